"""A worker killed (SIGKILL) after taking jobs from the queue but before claiming their
rows: arq's in-progress markers it set would block those jobs for job_timeout + 10 s
(130 s by default); the sweeper drops a marker whose row nobody claimed once it is older
than `unclaimed_after` (min(stale_after, 10 s)), so the next worker processes the events
within seconds (docs/redis.md, "What happens on a crash").

To hold the jobs between "taken" and "claimed", the test takes a write lock on the
inbound table (SQLite: BEGIN IMMEDIATE; PostgreSQL: LOCK TABLE) while the first worker
starts: its claims (one conditional UPDATE each) wait on the lock when it is killed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time

from arq.constants import in_progress_key_prefix

from bot.storage.models import InboundEvent
from tests.helpers import wait_for
from tests.standins.wecom import text_xml

USERS = ["k1", "k2", "k3"]
RECOVERY = 20.0  # seconds; arq alone: 130


@contextlib.asynccontextmanager
async def inbound_table_locked(db_url: str):
    if db_url.startswith("sqlite://"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite://"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import asyncpg

    conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
    try:
        tr = conn.transaction()
        await tr.start()
        await conn.execute("LOCK TABLE inbound_event IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            await tr.rollback()
    finally:
        await conn.close()


async def test_jobs_taken_but_not_claimed_by_a_killed_worker_run_within_seconds(fault_env):
    env = fault_env
    serve = await env.procs.serve("--no-worker")
    for user in USERS:
        assert await env.callback(serve, text_xml(user, "你好")) == 200
    rows = await InboundEvent.all()
    assert len(rows) == len(USERS) and all(r.status == "pending" for r in rows)
    markers = [in_progress_key_prefix + f"inbound:{r.id}" for r in rows]

    async with inbound_table_locked(env.sections["database"]["url"]):
        worker = env.procs.worker()

        async def all_taken() -> bool:
            return await env.rt.redis.exists(*markers) == len(markers)

        await wait_for(all_taken, timeout=30)
        worker.kill()
    # Taken, never claimed: no lease on the rows, arq's markers left for 130 s.
    rows = await InboundEvent.all()
    assert all(r.status == "pending" and r.locked_until is None for r in rows)
    assert all([await env.rt.redis.pttl(m) > 100_000 for m in markers])

    started = time.monotonic()
    env.procs.worker()

    async def all_done() -> bool:
        answered = all(env.standin.delivered_to(user) for user in USERS)
        return answered and all(r.status == "done" for r in await InboundEvent.all())

    await wait_for(all_done, timeout=RECOVERY)
    print(f"recovered in {time.monotonic() - started:.1f} s")
    for row in await InboundEvent.all():
        assert row.attempts == 1  # the killed worker never claimed it
    for user in USERS:
        assert len(env.standin.delivered_to(user)) == 1, user
