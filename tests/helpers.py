"""Helpers tests import: auth headers, running the worker, reading what was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.queue import QUEUES
from bot.runtime import Runtime
from bot.storage.models import Outbox

API_TOKEN = "test-api-token"


async def reset_backends(rt: Runtime) -> None:
    """A clean slate for a test: PostgreSQL's tables emptied (SQLite is a fresh copy per
    test), Redis flushed."""
    if rt.settings.database.url.startswith(("postgres://", "postgresql://")):
        await empty_postgres()
    if rt.redis is not None:
        await rt.redis.flushdb()


_EMPTY_SQL: dict[str, str] = {}  # database name -> the script that empties it


async def empty_postgres() -> None:
    """Every model's table emptied and every sequence restarted, on tortoise's connection.
    DELETE with the foreign-key triggers off (the tests connect as a superuser), not
    TRUNCATE: on tables this small it is 3 ms against TRUNCATE's 40-odd (new files for
    18 tables), paid by every PostgreSQL test."""
    from tortoise import Tortoise

    conn = Tortoise.get_connection("default")
    name = conn.database
    if name not in _EMPTY_SQL:
        tables = [m._meta.db_table for m in Tortoise.apps["models"].values()]
        rows = await conn.execute_query_dict(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        )
        _EMPTY_SQL[name] = " ".join(
            [
                "BEGIN; SET LOCAL session_replication_role = replica;",  # till COMMIT
                *(f'DELETE FROM "{t}";' for t in tables),
                *(f'ALTER SEQUENCE "{r["sequencename"]}" RESTART;' for r in rows),
                "COMMIT;",
            ]
        )
    await conn.execute_script(_EMPTY_SQL[name])


def auth(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- running the worker from a test --------------------------------------------------------


async def drain(rt: Runtime, *, rounds: int = 20) -> None:
    """Run the worker until nothing is left to do now: sweep, then a burst worker, repeated
    until a sweep finds nothing (jobs may queue follow-up work)."""
    from bot.worker import build_worker, sweep_once

    for _ in range(rounds):
        found = await sweep_once(rt)
        queued = sum([await rt.redis.zcard(queue) for queue in QUEUES])
        if not any(found.values()) and queued == 0:
            return
        worker = build_worker(rt, burst=True)
        try:
            await worker.async_run()
        finally:
            await worker.close()
    raise AssertionError("worker did not settle")


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll an async predicate until it returns something truthy (for background workers)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def sent_messages(
    platform: str = "web", recipient: str | None = None, *, cards: bool = False
) -> list[dict]:
    """What the bot delivered (outbox rows marked sent), oldest first; with `cards`, only
    the replacements of earlier cards (bot/flows/cards.py), which are skipped otherwise."""
    q = Outbox.filter(platform=platform, status="sent")
    if recipient is not None:
        q = q.filter(recipient_id=recipient)
    rows = await q.order_by("id")
    return [
        {"to": r.recipient_id, **r.payload}
        for r in rows
        if bool(r.payload.get("replaces")) == cards
    ]
