"""Pacing for the HR group robot (群机器人): at most 20 messages a minute.

One post per `interval` (3 s for 20/min); whatever arrives meanwhile goes out merged in
the next post, up to the size limit. A burst of alerts therefore becomes a few messages
a few seconds apart instead of a 45009 and a minute of retries. Each caller waits for
the post that carries its text and gets its outcome (so every outbox row still knows
whether it was delivered). Per process: several processes may still exceed the limit
together; the robot then answers 45009 and the outbox retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

SEPARATOR = "\n\n"


class PacedMerger:
    def __init__(
        self,
        post: Callable[[str], Awaitable[None]],
        *,
        per_minute: int = 20,
        max_bytes: int = 4096,
    ):
        self._post = post
        self.interval = 60.0 / per_minute
        self.max_bytes = max_bytes
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._last_post = float("-inf")
        self.posts = 0  # for tests and metrics

    async def submit(self, text: str) -> None:
        """Returns once a post carrying `text` succeeded; raises what that post raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await future

    def _take_batch(self) -> list[tuple[str, asyncio.Future[None]]]:
        batch = [self._pending.pop(0)]  # the first always goes (the renderer clipped it)
        size = len(batch[0][0].encode())
        while self._pending:
            extra = len(SEPARATOR.encode()) + len(self._pending[0][0].encode())
            if size + extra > self.max_bytes:
                break
            size += extra
            batch.append(self._pending.pop(0))
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            wait = self._last_post + self.interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            batch = [item for item in self._take_batch() if not item[1].done()]
            if not batch:
                continue
            self._last_post = loop.time()
            self.posts += 1
            try:
                await self._post(SEPARATOR.join(text for text, _ in batch))
            except Exception as exc:  # noqa: BLE001 - each waiting delivery retries on its own
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for _, future in self._pending:
            if not future.done():
                future.cancel()
        self._pending.clear()
