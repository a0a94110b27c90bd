"""The page's live updates: a server-sent event stream over both panes.

Events: `message` (a feed item) and `cursor` (the time the page resumes from after a
reconnect). The web channel of this process wakes the stream the moment it sends; the
stream also re-reads the database every POLL_SECONDS, so messages another process sent
(`offerbot serve --no-worker` beside `offerbot worker`) arrive too, a moment later.
Each item is sent once per status (a scheduled message is sent again once it went out).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.channels.web.channel import WebChannel, WebDelivery
from bot.playground import feed

POLL_SECONDS = 2.0  # also how often a `cursor` event keeps an idle connection alive
# Streams end now and then (the page reconnects at once), so none outlives a restart.
STREAM_SECONDS = 300.0

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


async def write_event(response: web.StreamResponse, name: str, data: dict[str, Any]) -> None:
    payload = json.dumps(data, ensure_ascii=False)  # one line: JSON escapes newlines
    await response.write(f"event: {name}\ndata: {payload}\n\n".encode())


async def _wait_for_news(queue: asyncio.Queue) -> list[WebDelivery]:
    """Wait up to POLL_SECONDS for the channel; return the deliveries heard (maybe none)."""
    try:
        first = await asyncio.wait_for(queue.get(), timeout=POLL_SECONDS)
    except TimeoutError:
        return []
    heard = [first]
    while not queue.empty():
        heard.append(queue.get_nowait())
    return [item for item in heard if isinstance(item, WebDelivery)]


async def run(
    response: web.StreamResponse,
    *,
    channel: WebChannel,
    panes: tuple[feed.Pane, ...],
    since: datetime,
    clock: Callable[[], datetime],
    stopping: asyncio.Event,
) -> None:
    """Write events until the page goes away, the server stops, or STREAM_SECONDS pass."""
    loop = asyncio.get_running_loop()
    sent: dict[str, str] = {}  # item id → the status this stream already sent

    async def emit(item: dict[str, Any]) -> None:
        if sent.get(item["id"]) != item["status"]:
            sent[item["id"]] = item["status"]
            await write_event(response, "message", item)

    queue = channel.subscribe()
    try:
        await response.write(b"retry: 2000\n\n")
        ends_at = loop.time() + STREAM_SECONDS
        while not stopping.is_set() and loop.time() < ends_at:
            now = clock()
            for item in await feed.load_items(panes, now, since, catalog=channel.catalog):
                await emit(item)
            since = now
            await write_event(response, "cursor", {"now": now.isoformat()})
            for delivery in await _wait_for_news(queue):
                item = feed.delivery_item(delivery, panes, clock())
                if item:
                    await emit(item)
    finally:
        channel.unsubscribe(queue)
