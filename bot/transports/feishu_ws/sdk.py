"""The one module that knows lark-oapi's `ws.Client` internals (pinned: lark-oapi 1.7.x).

Imported only inside the connection's own thread (the import takes seconds and binds the
SDK to whatever event loop is current). `adopt` points the SDK's module-level loop at
that thread's loop; `LongClient` tells its owner about every frame (the watchdog's
heartbeat, the metrics) and which frames are still being answered (a clean stop waits
for their acks). Nothing of the SDK's behaviour is replaced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import lark_oapi.ws.client as lark_ws
from lark_oapi.core.enum import LogLevel
from lark_oapi.ws.exception import ClientException
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from bot.transports.feishu_ws.frames import ARRIVED

__all__ = ["ClientException", "LongClient", "adopt", "frame_type"]

# The handshake answers 514 only for "too many connections"; other refusals are the
# credentials (the endpoint call) or 403.
TOO_MANY_CONNECTIONS = lark_ws.AUTH_FAILED


class Owner(Protocol):
    def frame_arrived(self, kind: str) -> None: ...


def adopt(loop: asyncio.AbstractEventLoop) -> None:
    """The SDK schedules everything on `lark_oapi.ws.client.loop` (taken at import)."""
    lark_ws.loop = loop
    loop.set_exception_handler(quiet)


def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: with auto_reconnect off, the SDK's receive task ends
    by raising when the socket closes, and nobody awaits it; the transport has already
    said why the connection ended."""
    exc = context.get("exception")
    logging.getLogger(__name__).debug(
        "feishu long connection: %s", type(exc).__name__ if exc else context.get("message")
    )


def frame_type(raw: Any) -> str:
    """ping / pong / event / card / other, or malformed (not a Feishu frame)."""
    if not isinstance(raw, bytes):
        return "malformed"  # the protocol is binary frames only
    frame = Frame()
    try:
        frame.ParseFromString(raw)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        return "malformed"
    if not frame.IsInitialized():  # e.g. an empty message: required fields missing
        return "malformed"
    for header in frame.headers:
        if header.key == "type":
            return header.value if header.value in ("ping", "pong", "event", "card") else "other"
    return "other"


class LongClient(lark_ws.Client):
    def __init__(self, owner: Owner, *, app_id: str, app_secret: str, domain: str) -> None:
        # The SDK logs the connection URL (it carries a ticket) at INFO, and every planned
        # close as an ERROR; the transport logs each of these events in its own words.
        super().__init__(
            app_id,
            app_secret,
            log_level=LogLevel.CRITICAL,
            event_handler=owner,  # duck-typed: the SDK calls `_do_without_validation`
            domain=domain,
            auto_reconnect=False,  # the transport reconnects, with its own backoff
        )
        self.owner = owner
        self.inflight: set[asyncio.Task] = set()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def ping_interval(self) -> float:
        """Seconds between pings, as Feishu's ClientConfig says (endpoint and pongs)."""
        value = self._ping_interval
        return float(value) if isinstance(value, int | float) and value > 0 else 120.0

    async def _handle_message(self, msg: bytes) -> None:
        ARRIVED.set(time.perf_counter())
        self.owner.frame_arrived(frame_type(msg))
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        try:
            await super()._handle_message(msg)
        finally:
            self.inflight.discard(task)  # type: ignore[arg-type]

    async def finish(self, timeout: float) -> None:
        """Let the frames being answered write their acks, then close the socket."""
        # Frames received but not yet started count too (the SDK spawns one task each).
        queued = {
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__name__", "") == "_handle_message"
        }
        pending = [t for t in self.inflight | queued if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        if self._conn is not None:
            await asyncio.wait_for(self._disconnect(), timeout=timeout)

    @property
    def app_id(self) -> str:
        return self._app_id
