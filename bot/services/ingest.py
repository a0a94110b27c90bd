"""The webhook's only job after verification: store the Inbound durably, enqueue, ack.

Group commit: concurrent callbacks are written in one transaction and enqueued in one
Redis round trip. Nothing waits on purpose — while one batch commits, the next one
gathers whatever arrives meanwhile — and each request is acknowledged only after the
batch holding it has committed, so every 200 is durable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import metrics
from bot.channels.base import Inbound
from bot.runtime import Runtime
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
                results: dict[Key, Result] = dict(await _commit_batch(items))
            except Exception:  # noqa: BLE001 - e.g. a concurrent duplicate: go one by one
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


async def _commit_batch(items: list[Inbound]) -> dict[Key, tuple[int, bool]]:
    """One transaction for the whole batch. Returns {(platform, event_id): (id, created)}."""
    unique: dict[Key, Inbound] = {}
    for item in items:
        unique.setdefault((item.platform, item.event_id), item)
    results: dict[Key, tuple[int, bool]] = {}
    async with in_transaction():
        event_ids = [key[1] for key in unique]
        existing = await InboundEvent.filter(event_id__in=event_ids).values_list(
            "platform", "event_id", "id"
        )
        for platform, event_id, pk in existing:
            if (platform, event_id) in unique:
                results[(platform, event_id)] = (pk, False)
        fresh = [inbound for key, inbound in unique.items() if key not in results]
        if fresh:
            await InboundEvent.bulk_create(
                [
                    InboundEvent(
                        platform=i.platform,
                        event_id=i.event_id,
                        kind=i.kind,
                        payload=i.model_dump(mode="json"),
                    )
                    for i in fresh
                ]
            )
            stored = await InboundEvent.filter(
                event_id__in=[i.event_id for i in fresh]
            ).values_list("platform", "event_id", "id")
            for platform, event_id, pk in stored:
                key = (platform, event_id)
                if key in unique and key not in results:
                    results[key] = (pk, True)
    for key, (_, new) in results.items():  # noqa: B007
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
            payload=inbound.model_dump(mode="json"),
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
