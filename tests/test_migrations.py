"""Migrations: tortoise's own framework creates the schema on SQLite and PostgreSQL, is
idempotent, and matches the models (no model change without its migration)."""

import asyncio
import os
import uuid

import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from bot.storage import db
from bot.storage.models import Candidate
from tests.conftest import PG_URL, base_settings

EXPECTED_TABLES = {
    "requisition", "candidate", "application", "interview", "offer", "reason",
    "timeline_event", "conversation", "inbound_event", "outbox", "timer", "document",
    "alert", "note", "key_value", "correction", "candidate_token",
}  # fmt: skip


async def _tables(settings) -> set[str]:
    await db.init_db(settings)
    conn = Tortoise.get_connection("default")
    if db.is_sqlite(settings):
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
        names = {r["name"] for r in rows}
    else:
        rows = await conn.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname='public'"
        )
        names = {r["name"] for r in rows}
    await Candidate.create(name="迁移测试")
    assert await Candidate.filter(name="迁移测试").count() == 1
    await db.close_db()
    return names


async def _check_migrate(settings) -> None:
    await db.migrate(settings)
    await db.migrate(settings)  # a second run applies nothing and does not fail
    assert await _tables(settings) >= EXPECTED_TABLES


@pytest.fixture
def fresh_db_url(tmp_path):
    """A brand-new empty database of the suite's backend (tortoise caches SQL per dialect,
    so one process sticks to one backend: the PostgreSQL run checks PostgreSQL)."""
    if not PG_URL:
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    import asyncpg

    name = f"offerbot_mig_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_URL.replace("postgres://", "postgresql://", 1)

    async def run(sql):
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_migrate_creates_schema(tmp_path, fresh_db_url):
    await _check_migrate(base_settings(tmp_path, fresh_db_url))


async def test_models_have_no_unmigrated_changes(tmp_path, fresh_db_url):
    settings = base_settings(tmp_path, fresh_db_url)
    config = db.tortoise_config(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        writers = await detector.changes()
    pending = [op for w in writers for op in w.operations]
    assert not pending, (
        "models changed without a migration; run "
        "`tortoise -c bot.storage.tortoise_conf.TORTOISE_ORM makemigrations`: "
        f"{pending}"
    )
