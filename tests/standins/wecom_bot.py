"""A WeCom 智能机器人 long-connection stand-in on 127.0.0.1 (aiohttp WebSocket), for tests.

It speaks the AI bot's JSON frames the way WeCom does where it matters to the bot:
- `aibot_subscribe` with the right bot_id + secret is answered errcode 0; a wrong one
  gets errcode 40001 and the socket is closed;
- `ping` is answered errcode 0 (a heartbeat);
- `aibot_respond_msg` / `aibot_respond_update_msg` are taken only on the req_id of a
  callback pushed on that same connection (else errcode 846605, as for an expired one),
  `aibot_send_msg` needs a `chatid`; each is recorded and answered with a 回执;
- the test pushes callbacks (`message`, `click`) and ends connections: `drop()` (no close
  frame, like a network loss) or `close(code)` (a normal close, 1000 / 1001).
It can be told to fail the next frames of a command with an errcode (`fail_next`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

BOT_ID = "aib_standin_bot"
SECRET = "standin-bot-secret"
INVALID_REQ_ID = 846605


class AibotStandin:
    def __init__(self, bot_id: str = BOT_ID, secret: str = SECRET) -> None:
        self.bot_id, self.secret = bot_id, secret
        self.connects = 0  # sockets opened
        self.pings = 0
        self.subscribes: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []  # every respond / update / send frame accepted
        self.refused: list[dict[str, Any]] = []  # frames answered with an errcode
        self.live: list[web.WebSocketResponse] = []  # subscribed sockets, newest last
        self.fail_next: dict[str, list[tuple[int, str]]] = {}
        self.answer_pings = True  # False: a connection that died without closing
        self._callbacks: dict[int, set[str]] = {}  # id(socket) → req_ids pushed on it
        self._requests: dict[int, web.Request] = {}
        self._ids = itertools.count(1)
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.port}/"

    # -- the server ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connects += 1
        self._requests[id(ws)] = request
        self._callbacks[id(ws)] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._frame(ws, json.loads(msg.data))
        finally:
            if ws in self.live:
                self.live.remove(ws)
        return ws

    async def _frame(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        cmd, req_id = frame.get("cmd"), frame["headers"]["req_id"]
        if cmd == "aibot_subscribe":
            self.subscribes.append(frame["body"])
            if frame["body"] == {"bot_id": self.bot_id, "secret": self.secret}:
                await self._ack(ws, req_id)
                self.live.append(ws)
            else:
                await self._ack(ws, req_id, 40001, "invalid bot_id or secret")
                await ws.close()
            return
        if cmd == "ping":
            self.pings += 1
            if self.answer_pings:
                await self._ack(ws, req_id)
            return
        failures = self.fail_next.get(cmd) or []
        if failures:
            code, text = failures.pop(0)
            self.refused.append(frame)
            await self._ack(ws, req_id, code, text)
            return
        respond = cmd in ("aibot_respond_msg", "aibot_respond_update_msg")
        if (respond and req_id not in self._callbacks[id(ws)]) or (
            cmd == "aibot_send_msg" and not frame.get("body", {}).get("chatid")
        ):
            self.refused.append(frame)
            await self._ack(ws, req_id, INVALID_REQ_ID, "invalid req_id")
            return
        self.sent.append(frame)
        await self._ack(ws, req_id)

    async def _ack(self, ws, req_id: str, errcode: int = 0, errmsg: str = "ok") -> None:
        await ws.send_json({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AibotStandin]:
        app = web.Application()
        app.router.add_get("/", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        try:
            yield self
        finally:
            await self.server.close()

    # -- what a test does ---------------------------------------------------------------

    async def push(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a callback on the newest subscribed connection."""
        ws = self.live[-1]
        self._callbacks[id(ws)].add(frame["headers"]["req_id"])
        await ws.send_json(frame)
        return frame

    async def send_raw(self, data: str) -> None:
        await self.live[-1].send_str(data)

    def message(
        self,
        text: str,
        *,
        userid: str = "hr_zhang",
        chatid: str = "",
        msgid: str = "",
        req_id: str = "",
    ) -> dict[str, Any]:
        n = next(self._ids)
        body: dict[str, Any] = {
            "msgid": msgid or f"msg{n}",
            "aibotid": self.bot_id,
            "chattype": "group" if chatid else "single",
            "from": {"userid": userid},
            "create_time": int(time.time()),
            "msgtype": "text",
            "text": {"content": text},
        }
        if chatid:
            body["chatid"] = chatid
        return {
            "cmd": "aibot_msg_callback",
            "headers": {"req_id": req_id or f"req_msg_{n}"},
            "body": body,
        }

    def click(
        self, event_key: str, task_id: str, *, userid: str = "hr_zhang", chatid: str = ""
    ) -> dict[str, Any]:
        n = next(self._ids)
        body: dict[str, Any] = {
            "msgid": f"evt{n}",
            "aibotid": self.bot_id,
            "chattype": "group" if chatid else "single",
            "from": {"userid": userid},
            "create_time": int(time.time()),
            "msgtype": "event",
            "event": {
                "eventtype": "template_card_event",
                "template_card_event": {
                    "card_type": "button_interaction",
                    "event_key": event_key,
                    "task_id": task_id,
                },
            },
        }
        if chatid:
            body["chatid"] = chatid
        return {
            "cmd": "aibot_event_callback",
            "headers": {"req_id": f"req_evt_{n}"},
            "body": body,
        }

    async def drop(self) -> None:
        """End the newest connection without a close frame (a lost network)."""
        ws = self.live.pop()
        transport = self._requests[id(ws)].transport
        assert transport is not None
        transport.abort()

    async def close(self, code: int = 1000) -> None:
        ws = self.live.pop()
        await ws.close(code=code, message=b"bye")

    def frames(self, cmd: str) -> list[dict[str, Any]]:
        return [f for f in self.sent if f.get("cmd") == cmd]

    async def wait(self, predicate, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("the stand-in did not see it in time")
            await asyncio.sleep(0.02)
