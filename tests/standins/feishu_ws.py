"""Feishu's long-connection side on 127.0.0.1, for tests (lark-oapi's protocol).

Mounted on a `FeishuStandin` (same origin, so `feishu.api_base_url` serves both the open
API the bot sends through and the long connection):

- `POST /callback/ws/endpoint` checks `AppID`/`AppSecret` and answers the WebSocket URL
  and a ClientConfig (ping interval, reconnect hints), or a refusal code;
- `GET /ws` is the connection: protobuf `Frame`s (lark_oapi.ws.pb). The client pings
  (control frame, type=ping) and gets a pong carrying the ClientConfig, unless
  `mute_pongs`; the stand-in pushes data frames (type=event, message_id, trace_id,
  sum/seq, split into fragments on request) and records the ack the client writes back
  for each (the same frame, payload `{"code": 200, "data": base64(answer)}`).

Control: `refuse`, `mute_pongs`, `drop()`, `send()`, `send_raw()`, `ack()`, `on_ack`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from tests.standins.feishu import FeishuStandin

SERVICE_ID = 7
CONTROL, DATA = 0, 1


@dataclass
class Ack:
    message_id: str
    code: int
    answer: Any  # the decoded `data` (a card click's answer), or None
    headers: dict[str, str]


@dataclass
class FeishuWsStandin:
    http: FeishuStandin
    ping_interval: int = 1
    refuse: tuple[int, str] | None = None  # the endpoint's refusal: (code, msg)
    mute_pongs: bool = False  # "the server stops answering pings"
    busy: bool = False  # the endpoint answers "system busy" (code 1): try again later
    full: bool = False  # the handshake refuses: the app has too many connections
    endpoint_calls: int = 0
    connections: int = 0  # WebSocket connections accepted so far
    pings: int = 0
    acks: dict[str, list[Ack]] = field(default_factory=dict)
    on_ack: Callable[[Ack], Awaitable[None]] | None = None  # runs before the ack is recorded

    def __post_init__(self) -> None:
        self.http.mounts.append(self._mount)
        self._ws: web.WebSocketResponse | None = None
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()

    # -- control ----------------------------------------------------------------------

    async def wait(self, predicate: Callable[[], Any], timeout: float = 15.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def connected(self, count: int = 1, timeout: float = 15.0) -> None:
        """Until the `count`-th connection is open."""
        await self.wait(lambda: self.connections >= count and self._ws is not None, timeout)

    async def drop(self) -> None:
        """Close the connection from Feishu's side."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    def frame(
        self, payload: bytes, *, type_: str = "event", message_id: str, sum_: int = 1, seq: int = 0
    ) -> Frame:
        frame = Frame()
        frame.SeqID = next(self._seq)
        frame.LogID = frame.SeqID
        frame.service = SERVICE_ID
        frame.method = DATA
        for key, value in (
            ("type", type_),
            ("message_id", message_id),
            ("sum", str(sum_)),
            ("seq", str(seq)),
            ("trace_id", f"trace-{message_id}"),
        ):
            header = frame.headers.add()
            header.key, header.value = key, value
        frame.payload = payload
        return frame

    async def send(
        self,
        payload: dict[str, Any] | bytes,
        *,
        type_: str = "event",
        message_id: str | None = None,
        fragments: int = 1,
    ) -> str:
        """Push one data frame (or `fragments` pieces of it); returns its message_id."""
        message_id = message_id or f"msg-{uuid.uuid4().hex[:12]}"
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        step = -(-len(raw) // fragments)
        for seq in range(fragments):
            piece = raw[seq * step : (seq + 1) * step]
            frame = self.frame(piece, type_=type_, message_id=message_id, sum_=fragments, seq=seq)
            await self.send_raw(frame.SerializeToString())
        return message_id

    async def send_raw(self, data: bytes | str) -> None:
        assert self._ws is not None, "no connection"
        if isinstance(data, str):
            await self._ws.send_str(data)
        else:
            await self._ws.send_bytes(data)

    async def ack(self, message_id: str, count: int = 1, timeout: float = 15.0) -> Ack:
        """The `count`-th ack written for `message_id`."""
        await self.wait(lambda: len(self.acks.get(message_id, [])) >= count, timeout)
        return self.acks[message_id][count - 1]

    # -- the server -------------------------------------------------------------------

    def _mount(self, app: web.Application) -> None:
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._connection)

    def _client_config(self) -> dict[str, int]:
        return {
            "ReconnectCount": -1,
            "ReconnectInterval": 1,
            "ReconnectNonce": 0,
            "PingInterval": self.ping_interval,
        }

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _endpoint(self, request: web.Request) -> web.Response:
        self.endpoint_calls += 1
        await self._notify()
        body = await request.json()
        if self.busy:
            return web.json_response({"code": 1, "msg": "system busy"})
        if self.refuse is not None:
            code, msg = self.refuse
            return web.json_response({"code": code, "msg": msg})
        if body.get("AppID") != self.http.app_id or body.get("AppSecret") != self.http.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        url = self.http.url.replace("http://", "ws://", 1)
        device = uuid.uuid4().hex[:8]
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "data": {
                    "URL": f"{url}/ws?device_id={device}&service_id={SERVICE_ID}",
                    "ClientConfig": self._client_config(),
                },
            }
        )

    async def _connection(self, request: web.Request) -> web.StreamResponse:
        if self.full:  # as lark-oapi reads a refused handshake: status and codes in headers
            headers = {"handshake-status": "514", "handshake-msg": "exceed connection limit",
                       "handshake-autherrcode": "1000040350"}  # fmt: skip
            return web.Response(status=403, headers=headers)
        ws = web.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        if self._ws is not None:
            await self._ws.close()  # a newer connection replaces an older one
        self._ws = ws
        self.connections += 1
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await self._from_client(ws, msg.data)
        finally:
            if self._ws is ws:
                self._ws = None
            await self._notify()
        return ws

    async def _from_client(self, ws: web.WebSocketResponse, data: bytes) -> None:
        frame = Frame()
        frame.ParseFromString(data)
        headers = {h.key: h.value for h in frame.headers}
        if frame.method == CONTROL and headers.get("type") == "ping":
            self.pings += 1
            if not self.mute_pongs:
                pong = Frame()
                pong.SeqID, pong.LogID, pong.service, pong.method = 0, 0, SERVICE_ID, CONTROL
                header = pong.headers.add()
                header.key, header.value = "type", "pong"
                pong.payload = json.dumps(self._client_config()).encode()
                await ws.send_bytes(pong.SerializeToString())
            await self._notify()
            return
        if frame.method == DATA:
            body = json.loads(frame.payload)
            data_field = body.get("data")
            answer = json.loads(base64.b64decode(data_field)) if data_field else None
            ack = Ack(headers.get("message_id", ""), int(body.get("code", 0)), answer, headers)
            if self.on_ack is not None:
                await self.on_ack(ack)
            self.acks.setdefault(ack.message_id, []).append(ack)
            await self._notify()
