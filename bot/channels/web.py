"""The `web` channel: the playground's chat panes (and a channel the tests can read).

Sent messages are the outbox rows themselves (platform `web`, status `sent`); this channel
only marks them delivered and wakes the page's live listeners in this process.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.channels.base import Channel, Outgoing, Recipient, SendResult

if TYPE_CHECKING:
    from bot.runtime import Runtime


class WebChannel(Channel):
    name = "web"

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._listeners: set[asyncio.Queue] = set()

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        for queue in list(self._listeners):
            queue.put_nowait((to.address, message))
        return SendResult(message_id=idempotency_key)

    def can_reach_hr(self) -> bool:
        return True

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)
