"""Clients that are slow on purpose, for the door's bench (bench/door.py) and its fault
test (tests/faults/test_door.py): what the server must close without waiting on them."""

from __future__ import annotations

import asyncio


class Trickle:
    """A request head sent a byte every `every` seconds, `rounds` times at most: it never
    completes. `sent` counts the bytes written before the server closed the socket."""

    def __init__(self, writer: asyncio.StreamWriter, rounds: int, every: float = 0.3) -> None:
        self.writer, self.rounds, self.every = writer, rounds, every
        self.sent = 0

    async def run(self) -> None:
        for _ in range(self.rounds):
            await asyncio.sleep(self.every)
            try:
                self.writer.write(b"X")
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                return
            self.sent += 1
