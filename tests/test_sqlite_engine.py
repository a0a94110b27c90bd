"""The SQLite engine of bot/storage/sqlite_engine.py: a transaction holds the write lock
from its BEGIN (so a read-then-write transaction cannot fail on a stale snapshot when
another process writes meanwhile), and the turnstile makes the worker child wait while
serve stores callbacks."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from bot.storage import db, sqlite_engine
from tests.conftest import base_settings


async def test_a_transaction_takes_the_write_lock_at_begin(tmp_path):
    path = tmp_path / "x.sqlite3"
    config = db.tortoise_config(base_settings(tmp_path, f"sqlite://{path}"))
    assert config["connections"]["default"]["engine"] == "bot.storage.sqlite_engine"
    async with TortoiseContext() as ctx:  # a context of its own: the session's is untouched
        await ctx.init(config=config)
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        async with in_transaction():  # nothing written yet: a deferred BEGIN would not lock
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.execute("ROLLBACK")
        other.close()


async def test_the_turnstile_holds_the_worker_while_serve_writes(tmp_path):
    serve, child = sqlite_engine.turnstile(tmp_path), sqlite_engine.turnstile(tmp_path)
    passed = threading.Event()

    def next_transaction() -> None:
        child.pass_through()
        passed.set()

    async with serve.right_of_way():
        worker = threading.Thread(target=next_transaction)
        worker.start()
        assert not passed.wait(0.3)  # the worker waits while serve writes
    worker.join(10)
    assert passed.is_set()  # and goes on at once after
