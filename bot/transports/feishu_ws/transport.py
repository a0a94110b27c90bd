"""The long connection's life: a thread with its own loop, reconnects, watchdog, stop.

The thread imports lark-oapi (seconds, off the main loop), points the SDK's module-level
loop at its own and runs one `LongClient` per connection attempt. `client.start()` only
returns by raising: refused, failed, or its loop stopped by the watchdog, which looks
every `TICK` for a dropped socket, for silence (no frame, not even a pong, for
`SILENT_PINGS` ping intervals) and for a stop request. Then the frames being answered
finish (their acks are written), the socket closes, and the loop retries after a backoff:
short for a lost connection, long for refused credentials (no tight loop against
Feishu). Status, metrics and the /readyz problem say which (docs/long-connections.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
import time
from typing import Any

from bot import metrics
from bot.runtime import Runtime
from bot.transports.base import Transport
from bot.transports.feishu_ws.frames import ANSWER_WITHIN, Frames

log = logging.getLogger(__name__)

TICK = 0.1  # seconds between the watchdog's looks
SILENT_PINGS = 3  # this many ping intervals without a frame: the connection is dead
MIN_SILENCE = 2.0
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # a lost connection: 0.5 s, 1 s, 2 s ... 30 s
REFUSED_FIRST, REFUSED_MAX = 60.0, 900.0  # refused: 1 min, 2 min ... 15 min
STABLE_AFTER = 10.0  # a connection up this long resets the backoff
STOP_WITHIN = 10.0  # SIGTERM: how long the thread gets to finish and close
PROBLEM = "feishu_ws"  # the /readyz problems key
CREDENTIALS_FIX = "copy App ID and App Secret from 开发者后台 → 凭证与基础信息"

# The SDK's loop is module-global: one client per process (docs/long-connections.md).
_running: threading.Thread | None = None


class FeishuLongConnection(Transport):
    name = "feishu_ws"

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt
        self.frames: Frames | None = None
        self.retry_in = 0.0  # the backoff being waited out, seconds (0 when connected)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._main: asyncio.AbstractEventLoop | None = None
        self._why: tuple[str, str] | None = None  # set by the watchdog before it stops the loop
        self._connected_at: float | None = None
        self._problem = False

    # -- the main loop's side ---------------------------------------------------------

    async def start(self) -> None:
        global _running
        if _running is not None and _running.is_alive():
            self.status.set("stopped", "another Feishu long connection runs in this process")
            log.error("feishu long connection: one per process; not started again")
            return
        main = asyncio.get_running_loop()
        # Tortoise keeps its connections in a contextvar: each stored event runs in a copy
        # of this context, like a request handler of this loop would.
        context = contextvars.copy_context()

        def submit(coro: Any) -> Any:
            return context.copy().run(asyncio.run_coroutine_threadsafe, coro, main)

        self._main = main
        self.frames = Frames(self.rt, submit)
        self._stopping.clear()
        self.status.set("connecting")
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        _running = self._thread
        self._thread.start()

    async def stop(self) -> None:
        thread = self._thread
        if thread is not None:
            self._stopping.set()
            await asyncio.to_thread(thread.join, STOP_WITHIN)
            if thread.is_alive():  # e.g. inside the SDK's endpoint call, which has no timeout
                log.warning("feishu long connection: not closed within %.0f s", STOP_WITHIN)
            self._thread = None
        self.status.set("stopped")

    def _tell_main(self, problem: str | None) -> None:
        """Record or clear the /readyz problem (Problems lives on the main loop)."""

        def apply() -> None:
            if problem is not None:
                self.rt.problems[PROBLEM] = problem
            else:
                self.rt.problems.pop(PROBLEM)

        if self._main is not None and not self._main.is_closed():
            try:
                self._main.call_soon_threadsafe(apply)
            except RuntimeError:  # the main loop closed meanwhile
                pass

    # -- the connection's thread ------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            from bot.transports.feishu_ws import sdk  # seconds; binds the SDK to this loop

            sdk.adopt(loop)
            self._supervise(loop, sdk)
        except Exception:
            log.exception("feishu long connection: its thread failed")
        finally:
            self.status.set("stopped")
            loop.close()

    def _supervise(self, loop: asyncio.AbstractEventLoop, sdk: Any) -> None:
        cfg = self.rt.settings.feishu
        failures = refusals = 0
        while not self._stopping.is_set():
            assert self.frames is not None
            client = sdk.LongClient(
                self.frames,
                app_id=cfg.app_id,
                app_secret=cfg.app_secret,
                domain=cfg.api_base_url.rstrip("/"),
            )
            reason, detail = self._session(loop, client, sdk)
            if reason == "stopped":
                return
            metrics.FEISHU_WS_RECONNECTS.labels(reason).inc()
            lived = time.monotonic() - self._connected_at if self._connected_at else 0.0
            if reason in ("refused", "limit"):
                self.retry_in = min(REFUSED_MAX, REFUSED_FIRST * 2**refusals)
                refusals += 1
            else:
                refusals = 0
                failures = 0 if lived >= STABLE_AFTER else failures + 1
                base = min(RETRY_MAX, RETRY_FIRST * 2 ** max(0, failures - 1))
                self.retry_in = base * random.uniform(0.8, 1.2)  # connections spread out
            wait = f"{self.retry_in:.1f}" if self.retry_in < 10 else f"{self.retry_in:.0f}"
            text = f"{detail}; next try in {wait} s"
            if reason == "refused":
                self.status.set("auth_refused", text)
                log.error("feishu long connection: %s; fix: %s", text, CREDENTIALS_FIX)
                self._problem = True
                self._tell_main(f"{detail}: {CREDENTIALS_FIX}")
            else:
                self.status.set("reconnecting", text)
                log.warning("feishu long connection: %s", text)
            self._stopping.wait(self.retry_in)

    def _session(self, loop: asyncio.AbstractEventLoop, client: Any, sdk: Any) -> tuple[str, str]:
        """One connection, from the endpoint call to its end: (reason, detail)."""
        self._why, self._connected_at = None, None
        loop.create_task(self._watch(client))
        try:
            client.start()  # returns only by raising
            outcome = ("failed", "the SDK returned")
        except sdk.ClientException as exc:
            if exc.code == sdk.TOO_MANY_CONNECTIONS:
                outcome = ("limit", "Feishu refused: too many long connections for this app")
            else:
                outcome = ("refused", f"Feishu refused app_id {client.app_id} ({exc})"[:300])
        except Exception as exc:  # noqa: BLE001 - the endpoint or socket failed: retry
            outcome = ("failed", f"cannot connect ({type(exc).__name__}: {exc})"[:300])
        finally:
            self._close(loop, client)
        return self._why or outcome

    async def _watch(self, client: Any) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            if self._stopping.is_set():
                self._why = ("stopped", "")
                break
            if self._connected_at is None:
                if client.connected:
                    self._connected(client, now)
                continue
            if not client.connected:
                self._why = ("dropped", "the connection was closed")
                break
            silence = max(MIN_SILENCE, SILENT_PINGS * client.ping_interval)
            assert self.frames is not None
            if now - self.frames.heard > silence:
                self._why = ("silent", f"no frame from Feishu for {silence:.0f} s")
                break
        asyncio.get_running_loop().stop()  # start() raises; _session() closes and retries

    def _connected(self, client: Any, now: float) -> None:
        assert self.frames is not None
        self._connected_at = self.frames.heard = now
        self.retry_in = 0.0
        self.status.set("connected")
        metrics.FEISHU_WS_CONNECTS.inc()
        log.info("feishu long connection: connected (app %s)", client.app_id)
        if self._problem:
            self._problem = False
            self._tell_main(None)

    def _close(self, loop: asyncio.AbstractEventLoop, client: Any) -> None:
        """Let the frames being answered write their acks, close the socket, end the rest."""
        try:
            loop.run_until_complete(client.finish(ANSWER_WITHIN))
        except Exception as exc:  # noqa: BLE001 - the socket may be gone already
            log.debug("feishu long connection: close: %s", type(exc).__name__)
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
