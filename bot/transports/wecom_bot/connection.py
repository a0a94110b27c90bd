"""One AI-bot WebSocket connection, on the official SDK's connection class.

`wecom-aibot-python-sdk` brings the protocol we keep: the subscribe frame, the ping
heartbeat (two missed answers close the socket), the serial reply queue that waits for
WeCom's 回执 per req_id. It is subclassed, in this module only, where it cannot do what
the bot needs:
- it hands its TLS context to every URL, so a `ws://` loopback stand-in cannot connect:
  `connect` opens the socket itself, TLS for `wss://` only, with a frame size cap;
- its own reconnecting gives up after N attempts, stops silently after a normal close
  (1000/1001) and goes on after `disconnected_event` (taking the bot back from the newer
  connection): `_schedule_reconnect` does nothing — the transport reconnects, under its
  lease, and learns the connection ended from `ended`;
- it reports a refused subscribe only as a log line: `subscribed` gets the answer frame;
- it raises on a reply's errcode with the code inside a message: `acks` keeps the frames.
A frame that is not a JSON object with object headers is dropped here (the SDK would
raise inside its receive loop and leave the socket open and unread).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import websockets
from aibot import WsCmd, WsConnectionManager

log = logging.getLogger(__name__)

MAX_FRAME = 1024 * 1024  # bytes; WeCom's frames are a few KB
OPEN_TIMEOUT = 10.0


class _SdkLog:
    """The SDK's logger interface on top of logging (its debug lines carry message text)."""

    def debug(self, message: str, *args: Any) -> None:
        log.debug("sdk: %s", message)

    def info(self, message: str, *args: Any) -> None:
        log.debug("sdk: %s", message)

    def warn(self, message: str, *args: Any) -> None:
        log.info("sdk: %s", message[:300])

    def error(self, message: str, *args: Any) -> None:
        log.warning("sdk: %s", message[:300])


class BotConnection(WsConnectionManager):
    def __init__(self, url: str, bot_id: str, secret: str, *, on_frame, heartbeat: float = 30.0):
        super().__init__(
            _SdkLog(),
            heartbeat_interval=int(heartbeat * 1000),
            max_reconnect_attempts=0,
            ws_url=url,
        )
        self.set_credentials(bot_id, secret)
        self.on_message = on_frame
        self.subscribed: asyncio.Future[dict[str, Any]] | None = None
        self.acks: dict[str, dict[str, Any]] = {}

    async def connect(self) -> None:
        """Open the socket and send the subscribe frame; raises when it cannot open."""
        self._is_manual_close = False
        await self._cleanup_ws()
        self.subscribed = asyncio.get_running_loop().create_future()
        secure = self._ws_url.startswith("wss://")
        self._ws = await websockets.connect(
            self._ws_url,
            ssl=ssl.create_default_context() if secure else None,
            ping_interval=None,  # the SDK's ping frames are the heartbeat
            ping_timeout=None,
            close_timeout=5,
            open_timeout=OPEN_TIMEOUT,
            max_size=MAX_FRAME,
            compression=None,  # small JSON frames; and no decompression bomb
        )
        self._missed_pong_count = 0
        await self._send_auth()
        self._receive_task = asyncio.ensure_future(self._receive_loop())

    async def _schedule_reconnect(self) -> None:
        return None  # the transport decides (lease, backoff, refusal)

    def _handle_frame(self, frame: Any) -> None:
        headers = frame.get("headers", {}) if isinstance(frame, dict) else None
        req_id = headers.get("req_id", "") if isinstance(headers, dict) else None
        if not isinstance(req_id, str):
            log.warning("wecom_bot: a frame that is not WeCom's was dropped")
            return
        if not frame.get("cmd"):
            if (
                req_id.startswith(WsCmd.SUBSCRIBE)
                and self.subscribed
                and not self.subscribed.done()
            ):
                self.subscribed.set_result(frame)
            elif req_id in self._pending_acks:
                self.acks[req_id] = frame
        super()._handle_frame(frame)

    @property
    def ended(self) -> asyncio.Future | None:
        """Done when the socket is gone (closed by either side, or found dead)."""
        return self._receive_task

    async def close(self) -> None:
        self._is_manual_close = True
        self._stop_heartbeat()
        self._clear_pending_messages("connection closed")
        await self._cleanup_ws()
