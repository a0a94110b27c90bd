"""Database lifecycle: tortoise config from Settings, init/close, migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from bot.config import Settings

MODELS_MODULE = "bot.storage.models"
MIGRATIONS_MODULE = "bot.storage.migrations"


def db_url(settings: Settings) -> str:
    url = settings.database.url
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://") and url != "sqlite://:memory:":
        path = Path(url.removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # personal data: the file and its -wal/-shm are the service's alone (docs/privacy.md)
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if part.exists():
                os.chmod(part, 0o600)
    return url


# Pragmas tortoise's SQLite client runs on every connection it opens: its constructor takes
# every extra credential as `PRAGMA key=value` (see tortoise.backends.sqlite.client), so a
# dict config is enough, no subclass. secure_delete zeroes freed cells and pages, so an
# erased person's bytes do not linger in the file (see docs/privacy.md); WAL lets the API
# read while the worker writes, and NORMAL sync is durable in WAL mode across process
# crashes (only an OS crash can lose the last commits).
SQLITE_PRAGMAS = {"journal_mode": "WAL", "synchronous": "NORMAL", "secure_delete": "ON"}


def connection_config(settings: Settings) -> str | dict[str, Any]:
    url = db_url(settings)
    if not url.startswith("sqlite://"):
        return url
    return {
        "engine": "bot.storage.sqlite_engine",  # BEGIN IMMEDIATE: two processes write
        "credentials": {"file_path": url.removeprefix("sqlite://"), **SQLITE_PRAGMAS},
    }


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def is_sqlite(settings: Settings) -> bool:
    return settings.database.url.startswith("sqlite://")


async def init_db(settings: Settings) -> None:
    await Tortoise.init(config=tortoise_config(settings))


async def scrub_after_erasure() -> None:
    """After an erasure has committed: copy the WAL into the main file (secure_delete has
    zeroed the freed cells there) and truncate the WAL to nothing, so no older frame keeps
    the person's rows. PostgreSQL keeps dead tuples until VACUUM (see docs/privacy.md)."""
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "sqlite":
        await conn.execute_script("PRAGMA wal_checkpoint(TRUNCATE);")


async def close_db() -> None:
    await Tortoise.close_connections()


def open_clients() -> list[Any]:
    """The database clients of the current context (see Runtime.db_clients)."""
    from tortoise import connections

    return list(connections.all())


async def migrate(settings: Settings, progress=None) -> None:
    """Create or upgrade the schema with tortoise's own migration framework."""
    from tortoise.migrations.api import migrate as run_migrations

    from bot.privacy import private_data_dir

    private_data_dir(settings.data_dir)  # `offerbot migrate` may create the SQLite file
    await run_migrations(config=tortoise_config(settings), progress=progress)
    await Tortoise.close_connections()


async def ping() -> bool:
    conn = Tortoise.get_connection("default")
    await conn.execute_query("SELECT 1")
    return True
