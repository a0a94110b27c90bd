"""tortoise's SQLite engine, with every transaction begun IMMEDIATE.

`offerbot serve` writes from two processes (the HTTP server stores callbacks, its worker
child processes them: bot/child_worker.py). A deferred `BEGIN` that reads first and then
writes fails at once with "database is locked" when the other process committed in
between (SQLite cannot upgrade a stale WAL snapshot, and no busy timeout helps). `BEGIN
IMMEDIATE` takes the write lock up front, waiting for it under the busy timeout like any
other writer, so a transaction either waits its turn or runs: docs/performance.md."""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
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
