"""The sweeper: the database is the truth, Redis only makes things punctual. Every
`[worker] sweep_interval` (and at once when Redis is back from an outage) it queues
whatever is due and not held by a live lease, and frees the job ids a dead worker left
marked as running in arq (see docs/redis.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from arq.constants import in_progress_key_prefix
from tortoise.expressions import Q

from bot import metrics
from bot.runtime import Runtime
from bot.storage.models import InboundEvent, KeyValue, Outbox, Timer

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
UNCLAIMED_AFTER = 10.0  # seconds; see unclaimed_after()


async def sweep_once(
    rt: Runtime, *, grace: float = 2.0, running: Callable[[], set[str]] | None = None
) -> dict[str, int]:
    """Enqueue everything the database says is due and nobody holds. Idempotent.
    `grace`: inbound rows younger than this are left to the webhook, which enqueues fresh
    events itself (0 right after a Redis outage: those enqueues were lost)."""
    now = rt.clock()
    horizon = now + timedelta(seconds=rt.sweep_seconds)
    free = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    enq = rt.enqueuer
    young = now - timedelta(seconds=grace)
    # One Redis round trip per kind, not per row: a backlog after a Redis outage is
    # re-enqueued in milliseconds (bench/RESULTS.md, "sweep with 1 000 due").
    inbound = await (
        InboundEvent.filter(free, status="pending", received_at__lte=young)
        .order_by("id")
        .limit(SWEEP_BATCH)
        .values_list("id", "locked_until")
    )
    outbox = await (
        Outbox.filter(free, status="pending", not_before__lte=horizon)
        .order_by("not_before")
        .limit(SWEEP_BATCH)
        .values_list("id", "not_before", "locked_until")
    )
    timers = await (
        Timer.filter(free, status="pending", due_at__lte=horizon)
        .order_by("due_at")
        .limit(SWEEP_BATCH)
        .values_list("id", "due_at", "locked_until")
    )
    # A lease that ran out means its holder died mid-job: free the job id in arq too.
    # A row nobody claimed may be behind the marker of a worker that died between
    # taking the job and claiming its row.
    jobs = (
        [(f"inbound:{pk}", held) for pk, held in inbound]
        + [(f"deliver:{pk}", held) for pk, _, held in outbox]
        + [(f"timer:{pk}", held) for pk, _, held in timers]
    )
    await _forget_dead_jobs(
        rt,
        running() if running else set(),
        [job for job, held in jobs if held is not None],
        [job for job, held in jobs if held is None],
    )
    await enq.many("process_inbound", [(f"inbound:{pk}", (pk,)) for pk, _ in inbound])
    # Deferred by the runtime's clock (`now`), not Redis's: due means due.
    later = [(pk, at if at > now else None) for pk, at, _ in outbox]
    await enq.many("deliver", [(f"deliver:{pk}", (pk,), at) for pk, at in later])
    later = [(pk, due if due > now else None) for pk, due, _ in timers]
    await enq.many("fire_timer", [(f"timer:{pk}", (pk,), at) for pk, at in later])
    await KeyValue.filter(expires_at__lt=now).delete()
    metrics.OUTBOX_BACKLOG.set(await Outbox.filter(status="pending").count())
    metrics.TIMERS_DUE.set(await Timer.filter(status="pending", due_at__lte=now).count())
    return {"inbound": len(inbound), "outbox": len(outbox), "timers": len(timers)}


def unclaimed_after(rt: Runtime) -> float:
    """How long a job may sit between arq's in-progress marker and the claim of its row
    before its worker is taken for dead (a live one claims within milliseconds)."""
    return min(rt.settings.worker.stale_after.total_seconds(), UNCLAIMED_AFTER)


async def _forget_dead_jobs(
    rt: Runtime, mine: set[str], expired: list[str], unclaimed: list[str]
) -> None:
    """A worker killed after taking a job leaves arq's in-progress marker behind for
    job_timeout + 10 s (130 s by default): until then no worker runs that job and the
    sweeper cannot queue it again. Drop the marker when the holder is surely gone:
    - `expired`: the row's lease (`stale_after`) ran out;
    - `unclaimed`: nobody holds the row, and the marker is older than `unclaimed_after`
      (its age is what arq set minus what is left).
    `mine`: jobs this process is running now; their holder is alive, whatever their age (a
    first reply may wait seconds for the reply model to load before it claims its row, and
    arq cannot run a job id twice in one worker)."""
    expired = [job for job in expired if job not in mine]
    unclaimed = [job for job in unclaimed if job not in mine]
    if rt.redis is None or not (expired or unclaimed):
        return
    try:
        stale = [in_progress_key_prefix + job for job in expired]
        if unclaimed:
            keys = [in_progress_key_prefix + job for job in unclaimed]
            async with rt.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pttl(key)
                left = await pipe.execute()
            full = (rt.settings.worker.job_timeout.total_seconds() + 10) * 1000
            oldest = full - unclaimed_after(rt) * 1000
            stale += [k for k, ms in zip(keys, left, strict=True) if 0 < ms < oldest]
        if stale:
            log.warning("releasing %d jobs held by a dead worker", len(stale))
            await rt.redis.delete(*stale)
    except Exception as exc:  # noqa: BLE001 - Redis hiccup: next sweep
        log.warning("could not release stale jobs: %s", type(exc).__name__)


async def _sweep_forever(rt: Runtime, running: Callable[[], set[str]] | None = None) -> None:
    """Sweep every `sweep_interval`; at once (no grace) when Redis is back from an outage,
    and again a few seconds later for what was acknowledged while clients reconnected."""
    wait = 0.0
    grace = 2.0
    while True:
        try:
            await asyncio.wait_for(rt.redis_back.wait(), timeout=wait)
            rt.redis_back.clear()
            grace, wait = 0.0, 0.0
        except TimeoutError:
            pass
        try:
            await sweep_once(rt, grace=grace, running=running)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - DB or Redis hiccup: try again next round
            log.warning("sweep failed: %s", exc)
        wait = rt.sweep_seconds if grace else min(rt.sweep_seconds, 3.0)
        grace = 2.0
