"""The webhook's only job after verification: store the Inbound durably, enqueue, ack.

Group commit: concurrent callbacks are written with one INSERT statement (one commit)
and enqueued in one Redis round trip. Nothing waits on purpose — while one batch
commits, the next one gathers whatever arrives meanwhile — and each request is
acknowledged only after the batch holding it has committed, so every 200 is durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from bot import metrics
from bot.channels.base import Inbound
from bot.runtime import Runtime
from bot.storage import sqlite_engine
from bot.storage.jsonsafe import json_safe
from bot.storage.models import InboundEvent

log = logging.getLogger(__name__)

MAX_BATCH = 500

Key = tuple[str, str]


Result = tuple[int, bool] | BaseException


@dataclass
class Batcher:
    """Per-process group commit of inbound events (lives on the Runtime)."""

    rt: Runtime
    pending: list[tuple[Inbound, asyncio.Future]] = field(default_factory=list)
    task: asyncio.Task | None = None

    async def submit(self, inbound: Inbound) -> tuple[int, bool]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((inbound, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            items = [inbound for inbound, _ in batch]
            try:
                async with sqlite_engine.right_of_way():  # before the worker's next turn
                    results: dict[Key, Result] = dict(await _commit_batch(items))
            except Exception:  # noqa: BLE001 - e.g. a bad row or an old SQLite: go one by one
                results = await _commit_each(items)
            created = sorted({r[0] for r in results.values() if isinstance(r, tuple) and r[1]})
            if created:
                await self.rt.enqueuer.many(
                    "process_inbound", [(f"inbound:{pk}", (pk,)) for pk in created]
                )
            answered: set[Key] = set()
            for inbound, future in batch:
                key = (inbound.platform, inbound.event_id)
                result = results[key]
                if isinstance(result, tuple) and key in answered:
                    result = (result[0], False)  # a duplicate inside the same batch
                answered.add(key)
                if future.done():  # the request was cancelled (client went away)
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


async def _commit_each(items: list[Inbound]) -> dict[Key, Result]:
    results: dict[Key, Result] = {}
    for inbound in items:
        key = (inbound.platform, inbound.event_id)
        if key in results:
            continue
        try:
            results[key] = await _store_one(inbound)
        except Exception as exc:  # noqa: BLE001 - this request answers 5xx; the platform retries
            log.warning("storing inbound failed: %s", type(exc).__name__)
            results[key] = exc
    return results


_COLUMNS = ("platform", "event_id", "kind", "payload", "status", "attempts", "received_at")
# INSERT .. ON CONFLICT DO NOTHING RETURNING: SQLite 3.35+ and PostgreSQL.
_ONE_STATEMENT = sqlite3.sqlite_version_info >= (3, 35, 0)


def _insert_sql(dialect: str, rows: int) -> str:
    """One statement that stores the new events and names them: a duplicate is skipped
    by the unique (platform, event_id) index instead of being looked for first."""
    width = len(_COLUMNS)

    def mark(n: int) -> str:
        return f"${n + 1}" if dialect == "postgres" else "?"

    values = ",".join(
        "(" + ",".join(mark(r * width + c) for c in range(width)) + ")" for r in range(rows)
    )
    columns = ",".join(f'"{c}"' for c in _COLUMNS)
    return (
        f'INSERT INTO "{InboundEvent._meta.db_table}" ({columns}) VALUES {values} '
        'ON CONFLICT ("platform","event_id") DO NOTHING RETURNING "id","platform","event_id"'
    )


async def _commit_batch(items: list[Inbound]) -> dict[Key, tuple[int, bool]]:
    """Store the batch with one statement (one commit). Returns
    {(platform, event_id): (id, created)}; duplicates get the id of the row stored first."""
    unique: dict[Key, Inbound] = {}
    for item in items:
        unique.setdefault((item.platform, item.event_id), item)
    conn = InboundEvent._meta.db
    if not _ONE_STATEMENT and conn.capabilities.dialect == "sqlite":
        raise RuntimeError("SQLite < 3.35 has no RETURNING: store one by one")
    now = datetime.now(UTC)
    received_at = InboundEvent._meta.fields_map["received_at"].to_db_value(now, InboundEvent)
    values: list[Any] = []
    for i in unique.values():
        # The payload column's JSON text, made storable like every other payload (json_safe:
        # no NUL, no lone surrogate), so hostile text cannot push a batch to the slow path.
        payload = json.dumps(json_safe(i.model_dump(mode="json")), ensure_ascii=False)
        values += [i.platform, i.event_id, i.kind, payload, "pending", 0, received_at]
    # execute_query_dict: tortoise's asyncpg execute_query drops an INSERT's RETURNING rows
    sql = _insert_sql(conn.capabilities.dialect, len(unique))
    rows = await conn.execute_query_dict(sql, values)
    results: dict[Key, tuple[int, bool]] = {
        (row["platform"], row["event_id"]): (row["id"], True) for row in rows
    }
    duplicates: dict[str, list[str]] = {}
    for platform, event_id in unique:
        if (platform, event_id) not in results:
            duplicates.setdefault(platform, []).append(event_id)
    for platform, event_ids in duplicates.items():
        # Filtered by platform too, so the lookup uses the unique index (no scan).
        known = await InboundEvent.filter(platform=platform, event_id__in=event_ids).values_list(
            "event_id", "id"
        )
        for event_id, pk in known:
            results[(platform, event_id)] = (pk, False)
    for key in unique.keys() - results.keys():  # stored before, erased since: store again
        results[key] = await _store_one(unique[key])
    for key, (_, new) in results.items():
        metrics.INBOUND.labels(key[0], "stored" if new else "duplicate").inc()
    return results


async def _store_one(inbound: Inbound) -> tuple[int, bool]:
    existing = await InboundEvent.filter(
        platform=inbound.platform, event_id=inbound.event_id
    ).values_list("id", flat=True)
    if existing:
        return existing[0], False
    try:
        row = await InboundEvent.create(
            platform=inbound.platform,
            event_id=inbound.event_id,
            kind=inbound.kind,
            payload=json_safe(inbound.model_dump(mode="json")),
        )
    except IntegrityError:  # another process stored the same event first
        row = await InboundEvent.get(platform=inbound.platform, event_id=inbound.event_id)
        return row.id, False
    return row.id, True


async def store_inbound(rt: Runtime, inbound: Inbound) -> tuple[int, bool]:
    """Insert once per (platform, event_id); returns (row id, created). New rows are
    enqueued for the worker; a duplicate delivery returns the existing row. Raises when
    the database is unavailable (the webhook then answers 5xx and the platform retries)."""
    if rt.batcher is None:
        rt.batcher = Batcher(rt)
    return await rt.batcher.submit(inbound)
