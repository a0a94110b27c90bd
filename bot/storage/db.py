"""Database lifecycle: tortoise config from Settings, init/close, migrations."""

from __future__ import annotations

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
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": db_url(settings)},
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
    if is_sqlite(settings):
        # WAL lets the API read while the worker writes; NORMAL sync is durable in WAL mode
        # across process crashes (only an OS crash can lose the last commits).
        conn = Tortoise.get_connection("default")
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")


async def close_db() -> None:
    await Tortoise.close_connections()


def open_clients() -> list[Any]:
    """The database clients of the current context (see Runtime.db_clients)."""
    from tortoise import connections

    return list(connections.all())


async def migrate(settings: Settings, progress=None) -> None:
    """Create or upgrade the schema with tortoise's own migration framework."""
    from tortoise.migrations.api import migrate as run_migrations

    await run_migrations(config=tortoise_config(settings), progress=progress)
    await Tortoise.close_connections()


async def ping() -> bool:
    conn = Tortoise.get_connection("default")
    await conn.execute_query("SELECT 1")
    return True
