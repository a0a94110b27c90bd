"""The WeCom 智能机器人 long connection: lease, connect, store, relay (docs/long-connections.md).

Every `serve` process runs one `WecomBotTransport`; the Redis lease (lease.py) lets one
of them connect. The holder:
- subscribes with bot_id + secret. A refused subscribe is an operator's problem, not a
  network one: one clear log line, state `auth_refused`, a /readyz problem, and the next
  try only after `REFUSED_RETRY` (the lease is given back meanwhile);
- stores each callback frame (bot/channels/wecom_bot/parse.py) through the same ingest
  path as webhooks (one row per msgid, whatever WeCom repeats), in the order received,
  before it reads the effect of the next; the worker then does the work. WeCom's protocol
  has no acknowledgement of callbacks and no re-delivery, so a frame that cannot be
  stored is retried here until the database answers, never dropped;
- sends what workers hand it (bot/channels/wecom_bot/relay.py), one request at a time,
  and answers each with WeCom's 回执;
- reconnects after any end of the connection — an error, a normal close (1000/1001), two
  missed heartbeats — with backoff from `reconnect_delay` doubling to 30 s; after WeCom's
  `disconnected_event` (another connection for this bot, outside this deployment, took
  over) it steps back as `holder_elsewhere` for `REPLACED_WAIT` rather than fight.
The others poll the lease every third of it and take over when the holder stops renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from aibot import generate_req_id
from redis.exceptions import RedisError

from bot import metrics
from bot.channels.bounds import oversized
from bot.channels.wecom_bot.parse import disconnected_by_another, frame_inbound
from bot.channels.wecom_bot.relay import (
    Answer,
    Frame,
    Request,
    already_sent,
    answer,
    keys,
    mark_sent,
    take,
)
from bot.channels.wecom_bot.render import RESPOND, SEND
from bot.services.ingest import store_inbound
from bot.transports.base import Transport
from bot.transports.wecom_bot.connection import BotConnection
from bot.transports.wecom_bot.lease import Lease, Renewer

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

NAME = "wecom_bot"
MAX_BACKOFF = 30.0
REFUSED_RETRY = 300.0  # seconds between subscribes once WeCom refused the secret
REPLACED_WAIT = 60.0
SUBSCRIBE_TIMEOUT = 10.0
STORE_RETRY_MAX = 5.0
INBOX_MAX = 1000  # frames waiting to be stored; past it the socket is not read on


class WecomBotTransport(Transport):
    name = NAME

    def __init__(self, rt: Runtime):
        super().__init__()
        self.rt = rt
        self.cfg = rt.settings.wecom_bot
        self._keys = keys(self.cfg.bot_id)
        self.lease = Lease(rt.redis, self._keys["lease"], self.cfg.lease.total_seconds())
        self.heartbeat = 30.0  # seconds between pings (WeCom's SDK default)
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._lease_lost = asyncio.Event()
        self._conn: BotConnection | None = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue(INBOX_MAX)
        self._storer: asyncio.Task | None = None
        self._replaced = False
        self._chats_seen: set[str] = set()

    # -- Transport ----------------------------------------------------------------------

    async def start(self) -> None:
        self.status.set("connecting")
        self._storer = asyncio.create_task(self._store_forever())
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Close the connection, store what was received, give the lease back."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=15)
        if self._storer is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._inbox.join(), timeout=10)
            self._storer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._storer
        self.status.set("stopped")

    # -- the lease ----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                held = await self.lease.acquire()
            except (RedisError, OSError) as exc:
                self.status.set("reconnecting", f"Redis unavailable ({type(exc).__name__})")
                await self._pause(self.lease.every)
                continue
            if not held:
                self.status.set("holder_elsewhere", "another serve process holds the connection")
                await self._pause(self.lease.every)
                continue
            log.info("wecom_bot: this process holds the connection lease")
            self._lease_lost.clear()
            keeper = asyncio.create_task(self._keep_lease())
            try:
                wait = await self._hold()
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                with contextlib.suppress(RedisError, OSError):
                    await self.lease.release()
            await self._pause(wait)

    async def _keep_lease(self) -> None:
        """Keep the lease while this process holds it: renewed from a thread of its own
        (lease.py: a busy event loop does not delay it), which this loop feeds a sign of
        life every third of the lease; on this loop only where Redis is a Sentinel set-up."""
        renewer = Renewer(self.lease, self._lose_lease)
        renewer.start()
        try:
            if not renewer.threaded:
                await self._renew_here()
                return
            while True:
                renewer.alive()
                await asyncio.sleep(self.lease.every)
        finally:
            await renewer.stop()

    async def _renew_here(self) -> None:
        held_since = time.monotonic()
        while True:
            await asyncio.sleep(self.lease.every)
            sent = time.monotonic()
            try:
                if not await self.lease.renew():
                    self._lose_lease("lost the connection lease")
                    return
                held_since = sent
            except (RedisError, OSError):
                if time.monotonic() - held_since > self.lease.ms / 1000:
                    self._lose_lease("cannot renew the lease (Redis)")
                    return

    def _lose_lease(self, reason: str) -> None:
        if not self._lease_lost.is_set():
            log.warning("wecom_bot: %s; closing", reason)
            self._lease_lost.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake for stop() and for a lost lease."""
        if seconds <= 0:
            return
        stop = asyncio.create_task(self._stopping.wait())
        lost = asyncio.create_task(self._lease_lost.wait())
        try:
            await asyncio.wait({stop, lost}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            lost.cancel()

    # -- holding the connection ---------------------------------------------------------

    async def _hold(self) -> float:
        """Connect and reconnect while the lease is ours. Returns how long to wait before
        taking the lease again (0: at once)."""
        delay = self.cfg.reconnect_delay.total_seconds()
        first = True
        while not self._stopping.is_set() and not self._lease_lost.is_set():
            if not first:
                metrics.WECOM_BOT_RECONNECTS.inc()
            first = False
            outcome = await self._session()
            if outcome == "refused":
                return REFUSED_RETRY
            if outcome == "replaced":
                self.status.set(
                    "holder_elsewhere",
                    "another connection for this bot took over (disconnected_event)",
                )
                return REPLACED_WAIT
            if outcome == "served":
                delay = self.cfg.reconnect_delay.total_seconds()
            if self._stopping.is_set() or self._lease_lost.is_set():
                break
            self.status.set("reconnecting", f"next try in {delay:g} s")
            await self._pause(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        return 0

    async def _session(self) -> str:
        """One connection: 'failed' (never up), 'refused', 'served' (was up), 'replaced'."""
        self.status.set("connecting")
        self._replaced = False
        conn = BotConnection(
            self.cfg.ws_url,
            self.cfg.bot_id,
            self.cfg.secret,
            on_frame=self._received,
            heartbeat=self.heartbeat,
        )
        self._conn = conn
        try:
            await conn.connect()
            assert conn.subscribed is not None
            reply = await asyncio.wait_for(asyncio.shield(conn.subscribed), SUBSCRIBE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - refused socket, TLS, DNS, timeout, closed
            metrics.WECOM_BOT_CONNECTS.labels("failed").inc()
            log.warning("wecom_bot: cannot connect to %s (%s)", self.cfg.ws_url, type(exc).__name__)
            await conn.close()
            return "failed"
        if reply.get("errcode") != 0:
            metrics.WECOM_BOT_CONNECTS.labels("refused").inc()
            text = (
                f"WeCom refused wecom_bot.bot_id / wecom_bot.secret "
                f"(errcode {reply.get('errcode')}: {str(reply.get('errmsg'))[:100]})"
            )
            log.error("wecom_bot: %s; check them in 智能机器人 → API 模式 → 长连接", text)
            self.status.set("auth_refused", text)
            self.rt.problems[NAME] = text
            await conn.close()
            return "refused"
        metrics.WECOM_BOT_CONNECTS.labels("ok").inc()
        if NAME in self.rt.problems:
            self.rt.problems.pop(NAME)
        self.status.set("connected")
        log.info("wecom_bot: connected and subscribed")
        relay = asyncio.create_task(self._relay(conn))
        waits = {
            asyncio.ensure_future(conn.ended),
            relay,
            asyncio.create_task(self._lease_lost.wait()),
            asyncio.create_task(self._stopping.wait()),
        }
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await conn.close()
            self._conn = None
        if self._replaced:
            return "replaced"
        log.warning("wecom_bot: the connection ended")
        return "served"

    # -- inbound ------------------------------------------------------------------------

    def _received(self, frame: dict[str, Any]) -> None:
        """The SDK's callback (synchronous): queue for storing, in order."""
        if disconnected_by_another(frame):
            log.warning("wecom_bot: another connection for this bot took over")
            self._replaced = True
            if self._conn is not None:
                asyncio.ensure_future(self._conn.close())
            return
        try:
            self._inbox.put_nowait(frame)
        except asyncio.QueueFull:
            metrics.WECOM_BOT_FRAMES.labels("overflow").inc()
            log.error("wecom_bot: %s frames wait to be stored; one was dropped", INBOX_MAX)

    async def _store_forever(self) -> None:
        while True:
            frame = await self._inbox.get()
            try:
                await self._store(frame)
            finally:
                self._inbox.task_done()

    async def _store(self, frame: dict[str, Any]) -> None:
        inbound = frame_inbound(frame)
        if inbound is not None and (too_long := oversized(inbound)):
            log.warning("wecom_bot: frame dropped: %s (see docs/hardening.md)", too_long)
            inbound = None
        if inbound is None:
            metrics.WECOM_BOT_FRAMES.labels("ignored").inc()
            return
        chat = inbound.chat_id
        if chat and chat != self.cfg.hr_chat_id and chat not in self._chats_seen:
            self._chats_seen.add(chat)  # how operators find hr_chat_id (docs)
            log.info("wecom_bot: a message from group chat %s", chat)
        delay = 0.1
        while True:
            try:
                _, created = await store_inbound(self.rt, inbound)
                break
            except Exception:  # noqa: BLE001 - kept in memory and retried: nothing is lost
                log.exception("wecom_bot: storing a frame failed; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX)
        metrics.WECOM_BOT_FRAMES.labels("stored" if created else "duplicate").inc()

    # -- outbound (the relay) -----------------------------------------------------------

    async def _relay(self, conn: BotConnection) -> None:
        redis = self.rt.redis
        while True:
            try:
                request = await take(redis, self.cfg.bot_id, timeout=1)
            except (RedisError, OSError) as exc:
                log.warning("wecom_bot: relay cannot read Redis (%s)", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            if request is None:
                continue
            if time.time() > request.expires:
                continue  # its worker stopped waiting and retries the row later
            result = await self._send_all(conn, request)
            with contextlib.suppress(RedisError, OSError):
                await answer(redis, request, result)

    async def _send_all(self, conn: BotConnection, request: Request) -> Answer:
        ids: list[str] = []
        for frame in request.frames:
            done = await already_sent(self.rt.redis, self.cfg.bot_id, frame)
            if done is not None:
                ids.append(done)
                continue
            sent = await self._send(conn, frame)
            if not sent.ok and frame.cmd == RESPOND and frame.fallback_chat:
                sent = await self._send(conn, _as_push(frame))  # too late to answer: push
            if not sent.ok:
                return sent
            await mark_sent(self.rt.redis, self.cfg.bot_id, frame, sent.message_ids[0])
            ids.append(sent.message_ids[0])
        return Answer(ok=True, message_ids=ids)

    async def _send(self, conn: BotConnection, frame: Frame) -> Answer:
        req_id = frame.req_id or generate_req_id(frame.cmd)
        started = time.monotonic()
        try:
            await conn.send_reply(req_id, frame.body, frame.cmd)
        except TimeoutError:
            metrics.WECOM_BOT_ACKS.labels("timeout").inc()
            return Answer(ok=False, transient=True, errmsg="no answer from WeCom")
        except RuntimeError as exc:
            ack = conn.acks.pop(req_id, None)
            if ack is None:  # not connected, connection closed meanwhile
                return Answer(ok=False, transient=True, errmsg=str(exc)[:200])
            metrics.WECOM_BOT_ACKS.labels("error").inc()
            code = ack.get("errcode")
            return Answer(
                ok=False,
                errcode=code if isinstance(code, int) else None,
                errmsg=str(ack.get("errmsg") or "")[:200],
            )
        conn.acks.pop(req_id, None)
        metrics.WECOM_BOT_ACKS.labels("ok").inc()
        metrics.WECOM_BOT_ACK_SECONDS.observe(time.monotonic() - started)
        return Answer(ok=True, message_ids=[req_id])


def _as_push(frame: Frame) -> Frame:
    """An answer WeCom no longer takes on its req_id, pushed to the chat instead."""
    stream = frame.body.get("stream") or {}
    content = stream.get("content", "") if isinstance(stream, dict) else ""
    body = {"chatid": frame.fallback_chat, "msgtype": "markdown", "markdown": {"content": content}}
    return Frame(frame.key, SEND, body)
