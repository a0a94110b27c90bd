"""tortoise's SQLite engine, with every transaction begun IMMEDIATE.

`offerbot serve` writes from two processes (the HTTP server stores callbacks, its worker
child processes them: bot/child_worker.py). A deferred `BEGIN` that reads first and then
writes fails at once with "database is locked" when the other process committed in
between (SQLite cannot upgrade a stale WAL snapshot, and no busy timeout helps). `BEGIN
IMMEDIATE` takes the write lock up front, waiting for it under the busy timeout like any
other writer, so a transaction either waits its turn or runs: docs/performance.md.

SQLite's busy handler polls with growing sleeps, so a process that writes transaction
after transaction (the worker) would starve one that waits (the server storing a
callback before it may acknowledge it). A turnstile file gives the server the right of
way: it holds an exclusive flock on it while it writes; the worker passes through it
(a shared flock, released at once) before each transaction, so it starts no new one
while the server waits."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class Turnstile:
    """`data_dir/sqlite.turnstile`: see above."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held = asyncio.Lock()

    def pass_through(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_SH)  # waits while the server writes
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    @contextlib.asynccontextmanager
    async def right_of_way(self) -> AsyncIterator[None]:
        async with self._held:  # one flock per process: writers of this process take turns
            await asyncio.to_thread(fcntl.flock, self.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


# Set by the process that gives way (serve's worker child) / has the right of way (serve).
GIVES_WAY: Turnstile | None = None
HAS_WAY: Turnstile | None = None


def turnstile(data_dir: str | os.PathLike) -> Turnstile:
    return Turnstile(Path(data_dir) / "sqlite.turnstile")


@contextlib.asynccontextmanager
async def right_of_way() -> AsyncIterator[None]:
    """Around a write the server must not wait long for (a no-op unless set up)."""
    if HAS_WAY is None:
        yield
        return
    async with HAS_WAY.right_of_way():
        yield


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        if GIVES_WAY is not None:
            GIVES_WAY.pass_through()
        try:
            if self._connection.in_transaction:  # an implicit one of sqlite3's: end it
                await self._connection.commit()  # (else a trip to aiosqlite's thread saved)
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(ImmediateTransactionWrapper(self))


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict) -> type[SqliteClient]:
    return ImmediateSqliteClient
