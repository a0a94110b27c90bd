"""The HTTP door: what every connection and request must satisfy before a handler runs.

aiohttp's own knobs do most of it (see `handler_args`): no request body is ever inflated
(`auto_decompress=False`), idle keep-alive sockets close after `keepalive_timeout`, a
refused body is drained for at most `lingering_time`. aiohttp has no knob for the rest,
so it lives here:
- `refuse_encoded`: a compressed body (`Content-Encoding` other than identity) is
  answered 415 before a byte of it is read — inflating it would be work done on the
  event loop for nobody (a 1 MB gzip can hold 1 GiB).
- `body_deadline`: a body must arrive within `body_timeout`; a slower one is answered
  408 and its connection closed (one byte every few seconds would hold it for ever).
- `DoorHandler`: request headers must arrive within `header_timeout` of their first byte.
- `DoorSite`: at most `max_connections` sockets at once; more are answered 503 and
  closed at once, and the refusals are logged once per minute, not once per socket.
See docs/hardening.md.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.config import ServerSettings

log = logging.getLogger(__name__)

LOG_EVERY = 60.0  # seconds between two "connections refused" lines
FD_RESERVE = 64  # descriptors kept for the database, Redis, files and logs
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
)
# Wakes a handler blocked on a body that stopped arriving (see body_deadline).
_SLOW_BODY_KEY = web.AppKey("door_body_timeout", float)


class SlowBody(Exception):
    """The body did not arrive within server.body_timeout."""


class _Every:
    """Counts events and logs at most one line per LOG_EVERY seconds (a flood of slow or
    excess clients must not become a flood of log lines)."""

    def __init__(self, message: str):
        self.message, self.count, self._last = message, 0, -LOG_EVERY

    def __call__(self, *args: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= LOG_EVERY:
            self._last = now
            log.warning(self.message + " (%d so far; at most one line per %ds)",
                        *args, self.count, LOG_EVERY)  # fmt: skip


_slow_body = _Every("request body slower than %ss: answered 408 and closed")
_late_headers = _Every("request headers slower than %ss: connection closed")


def handler_args(server: ServerSettings) -> dict[str, Any]:
    """aiohttp RequestHandler options (unknown names would be dropped silently by aiohttp)."""
    return {
        "auto_decompress": False,
        "keepalive_timeout": server.keepalive_timeout,
        "lingering_time": min(server.body_timeout, 2.0),
    }


def setup(app: web.Application, server: ServerSettings) -> None:
    app[_SLOW_BODY_KEY] = server.body_timeout


@web.middleware
async def refuse_encoded(request: web.Request, handler):
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        response = web.Response(status=415, text="compressed request bodies are not accepted")
        response.force_close()  # the rest of the body is not worth draining
        return response
    return await handler(request)


def _cut(request: web.Request) -> None:
    if not request.content.is_eof():
        request.content.set_exception(SlowBody())


@web.middleware
async def body_deadline(request: web.Request, handler):
    if not request.body_exists:
        return await handler(request)
    timeout = request.app[_SLOW_BODY_KEY]
    timer = asyncio.get_running_loop().call_later(timeout, _cut, request)
    try:
        return await handler(request)
    except SlowBody:
        _slow_body(timeout)
        response = web.Response(status=408, text="request body too slow")
        response.force_close()
        return response
    finally:
        timer.cancel()


class DoorHandler(RequestHandler):
    """aiohttp's RequestHandler plus a deadline on the request headers: from the first
    byte of a request until its headers are parsed (keep-alive covers idle sockets)."""

    def __init__(self, manager: web.Server, *, door: DoorSite, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self._door = door
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._door.opened()
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._door.closed()
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:
            self._stop_header_timer()  # a whole request head arrived
        elif (
            data
            and self._header_timer is None
            and not self._request_in_progress
            and self.transport is not None
        ):
            self._header_timer = self._loop.call_later(
                self._door.header_timeout, self._headers_late, before
            )

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self, count: int) -> None:
        self._header_timer = None
        if self._request_count == count and self.transport is not None:
            _late_headers(self._door.header_timeout)
            self.force_close()


class _Busy(asyncio.Protocol):
    """A connection over the cap: a short 503 and close, without parsing anything."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(_BUSY)  # type: ignore[attr-defined]
        transport.close()


def connection_cap(configured: int) -> int:
    """`server.max_connections`, but never more than the open-file limit allows."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - FD_RESERVE))


class DoorSite(web.TCPSite):
    """TCPSite whose protocol factory enforces the connection cap and header deadline."""

    def __init__(self, runner: web.AppRunner, server: ServerSettings, **kwargs: Any):
        super().__init__(runner, server.host, server.port, backlog=server.backlog, **kwargs)
        self.header_timeout = server.header_timeout
        self.max_connections = connection_cap(server.max_connections)
        self.live = 0
        self._refused = _Every(f"connection limit {self.max_connections} reached: answered 503")

    def opened(self) -> None:
        self.live += 1

    def closed(self) -> None:
        self.live -= 1

    def _protocol(self) -> asyncio.Protocol:
        if self.live >= self.max_connections:
            self._refused()
            return _Busy()
        server = self._runner.server
        assert server is not None
        return DoorHandler(server, loop=server._loop, door=self, **server._kwargs)

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
        )  # fmt: skip
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
