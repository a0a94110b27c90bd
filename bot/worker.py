"""The arq worker: process inbound events, deliver the outbox, fire timers, sweep.

Every job first *claims* its row with one conditional UPDATE (status + lease), so two
workers never do the same work, and a row whose lease ran out (its process died) can be
claimed again. The database is the truth; Redis only makes things punctual, and the
sweeper re-enqueues whatever Redis lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arq import Retry
from arq.worker import Worker, func
from redis.exceptions import RedisError
from tortoise.transactions import in_transaction

from bot import metrics
from bot.channels.addresses import conversation_address, identity_for
from bot.channels.base import (
    DownloadedFile,
    Inbound,
    PermanentError,
    TransientError,
    account,
)
from bot.compose import start_runtime
from bot.config import Settings
from bot.delivery import _deliver_now, backoff, claim, claim_row, deliver, kept, lease  # noqa: F401
from bot.flows import offer_state
from bot.flows import routes as router
from bot.queue import QUEUES, redis_settings
from bot.runtime import Runtime
from bot.services.quiet import reevaluate_held
from bot.services.unprocessed import tell_hr_unprocessed
from bot.storage import sql
from bot.storage.models import Candidate, Conversation, InboundEvent, Offer, Requisition, Timer
from bot.sweeper import _sweep_forever, sweep_once  # noqa: F401 - sweep_once: tests, bench

log = logging.getLogger(__name__)

MAX_INBOUND_ATTEMPTS = 5


# -- inbound ------------------------------------------------------------------------


async def locked_conversation(rt: Runtime, inbound: Inbound) -> Conversation:
    """The sender's conversation, locked for the rest of the transaction: one user's
    messages are handled one at a time (row lock on PostgreSQL, write lock on SQLite).
    One statement, first message or not: an upsert that takes the lock, notes the message
    (and, for a private message, reopens the platform's session budget) and returns the
    row (bot/storage/sql.py)."""
    key = conversation_address(inbound)
    now = rt.clock()
    at = sql.db_value(Conversation, "last_inbound_at", now)
    reopen = inbound.chat_type == "p2p" and inbound.kind != "event"
    changes = '"last_inbound_at"=excluded."last_inbound_at"'
    if reopen:
        changes += ', "sent_since_inbound"=0'
    (conv,) = await sql.rows(
        Conversation,
        'INSERT INTO {table} ("platform","user_id","state","context","last_inbound_at",'
        '"sent_since_inbound","updated_at") VALUES (?,?,?,?,?,?,?) '
        f'ON CONFLICT ("platform","user_id") DO UPDATE SET {changes} RETURNING *',
        [
            inbound.platform,
            key,
            "idle",
            sql.db_value(Conversation, "context", {}),
            at,
            0,
            sql.db_value(Conversation, "updated_at", now),
        ],
    )
    return conv


async def candidate_for(inbound: Inbound, conv: Conversation) -> tuple[Candidate | None, Any]:
    """The sender's candidate and, read in the same statement, their latest offers as
    `offer_state.offers_in_play` keeps them (None: not read; docs/performance.md, "The
    reply path"). A candidate without offers takes a second statement."""
    if conv.candidate_id:
        where, values = 'k."id"=? AND k."erased_at" IS NULL', [conv.candidate_id]
    else:
        if inbound.chat_type == "group":
            return None, None
        field = identity_for(inbound.platform, inbound.sender_id)
        if field is None:
            return None, None
        column = Candidate._meta.fields_db_projection[field[0]]
        where, values = f'k."erased_at" IS NULL AND k."{column}"=?', [field[1]]
    candidate, offers = await sql.candidate_with_offers(
        Candidate, Offer, Requisition, where, values, offer_state.OFFERS_READ
    )
    if candidate is not None:
        return candidate, offers
    if conv.candidate_id:
        found = await Candidate.get_or_none(id=conv.candidate_id, erased_at__isnull=True)
    else:
        lookup = {field[0]: field[1]}
        found = await Candidate.filter(erased_at__isnull=True, **lookup).order_by("-id").first()
    return found, [] if found is not None else None


async def _download_all(
    rt: Runtime, inbound: Inbound
) -> tuple[list[DownloadedFile | None], list[str]]:
    """Media ids expire (WeCom: 3 days): fetch right away, outside the transaction."""
    files: list[DownloadedFile | None] = []
    errors: list[str] = []
    channel = rt.channels.get(inbound.platform)
    for media in inbound.media:
        try:
            if channel is None:
                raise PermanentError(f"channel {inbound.platform} is not enabled")
            files.append(await channel.download(media))
        except (TransientError, PermanentError) as exc:
            files.append(None)
            errors.append(str(exc))
    return files, errors


async def process_inbound(ctx: dict[str, Any], inbound_id: int) -> str:
    rt: Runtime = ctx["rt"]
    event = await claim_row(InboundEvent, inbound_id, rt)
    if event is None:
        return "skipped"
    async with kept(rt, InboundEvent, event):
        return await _process_claimed(ctx, rt, event)


async def _process_claimed(ctx: dict[str, Any], rt: Runtime, event: InboundEvent) -> str:
    inbound_id = event.id
    inbound = Inbound.model_validate(event.payload)
    files, errors = await _download_all(rt, inbound)
    reading = await router.read_ahead(rt, inbound)  # no network inside the transaction
    fx = rt.fx(actor=account(inbound.platform, inbound.sender_id))
    fx.batch_records = True  # the turn's timeline events: one INSERT before the commit
    if inbound.kind == "action":
        # which card was clicked, for replacing it (bot/flows/cards.py)
        fx.click = {**inbound.extra, "response_code": inbound.card_ref}
    try:
        async with in_transaction():
            conv = await locked_conversation(rt, inbound)
            candidate, offers = await candidate_for(inbound, conv)
            turn = router.Turn(fx, inbound, conv, candidate, files, errors, reading=reading)
            if offers is not None:
                offer_state.note_offers(turn, offers)
            handled_by = await router.route(turn)
            await fx.write_records()
            await sql.update(
                InboundEvent,
                {"id": inbound_id},
                {"status": "done", "processed_at": rt.clock(), "locked_until": None},
            )
    except Exception as exc:
        fx.discard()
        metrics.JOBS.labels("process_inbound", "error").inc()
        log.exception("inbound %s failed", inbound_id)
        if event.attempts >= MAX_INBOUND_ATTEMPTS:
            await InboundEvent.filter(id=inbound_id).update(
                status="failed", last_error=type(exc).__name__, locked_until=None
            )
            await tell_hr_unprocessed(rt, event.id, event.attempts, inbound)
            return "failed"
        await InboundEvent.filter(id=inbound_id).update(
            last_error=type(exc).__name__, locked_until=None
        )
        raise Retry(defer=backoff(rt, event.attempts)) from exc
    await _deliver_now(ctx, fx)
    metrics.JOBS.labels("process_inbound", "ok").inc()
    return handled_by or "unhandled"


# -- timers -------------------------------------------------------------------------


async def fire_timer(ctx: dict[str, Any], timer_id: int) -> str:
    rt: Runtime = ctx["rt"]
    now = rt.clock()
    timer = await claim_row(Timer, timer_id, rt, '"due_at"<=?', sql.db_value(Timer, "due_at", now))
    if timer is None:
        timer = await Timer.get_or_none(id=timer_id)
        if timer and timer.status == "pending" and timer.due_at > now:
            raise Retry(defer=(timer.due_at - now).total_seconds())
        return "skipped"
    async with kept(rt, Timer, timer):
        return await _fire_claimed(ctx, rt, timer)


async def _fire_claimed(ctx: dict[str, Any], rt: Runtime, timer: Timer) -> str:
    timer_id = timer.id
    fx = rt.fx()
    try:
        async with in_transaction():
            # Re-check inside the transaction: a reply may have cancelled it meanwhile.
            fresh = await Timer.get(id=timer_id)
            if fresh.status != "pending":
                return "cancelled"
            await router.fire(fx, fresh)
            await Timer.filter(id=timer_id).update(
                status="done", fired_at=rt.clock(), locked_until=None
            )
    except Exception:
        fx.discard()
        log.exception("timer %s (%s) failed", timer_id, timer.kind)
        await Timer.filter(id=timer_id).update(locked_until=None)
        raise Retry(defer=backoff(rt, timer.attempts)) from None
    await _deliver_now(ctx, fx)
    metrics.JOBS.labels("fire_timer", "ok").inc()
    return "fired"


# -- wiring -------------------------------------------------------------------------


FUNCTIONS = [
    func(process_inbound, name="process_inbound"),
    func(deliver, name="deliver"),
    func(fire_timer, name="fire_timer"),
]


REDIS_DOWN = (RedisError, OSError)


class Workers:
    """The worker of one process: one arq Worker per queue (bot/queue.py), each with
    `max_jobs` slots of its own, so retries of sends never take the slots fresh inbound
    events need. Supervised from outside, with arq's public API only: arq leaves its poll
    loop for good on a Redis connection error, so here the jobs still running are let
    finish and a new arq Worker starts once Redis answers; the sweeper then re-queues
    what was stored meanwhile. `offerbot serve`, `offerbot worker` and tests use this."""

    def __init__(self, rt: Runtime, *, burst: bool = False):
        self.rt = rt
        self.burst = burst
        self.current: dict[str, Worker] = {}
        self._started: list[Worker] = []  # every arq worker so far, for the counts
        self._stopping = False
        self._reevaluated = False  # held messages re-timed once, at the first run
        self._task: asyncio.Task | None = None

    @property
    def jobs_complete(self) -> int:
        return sum(w.jobs_complete for w in self._started)

    @property
    def jobs_failed(self) -> int:
        return sum(w.jobs_failed for w in self._started)

    def running(self) -> set[str]:
        """Job ids this process's workers run now (their markers are not a dead worker's)."""
        return {job for w in self._started for job in w.job_tasks}

    @property
    def jobs_retried(self) -> int:
        return sum(w.jobs_retried for w in self._started)

    def _arq(self, queue: str, *, after_outage: bool = False) -> Worker:
        async def on_startup(ctx: dict[str, Any]) -> None:
            if after_outage:
                log.info("worker reached Redis again (%s)", queue)
                self.rt.redis_back.set()

        w = self.rt.settings.worker
        worker = Worker(
            functions=FUNCTIONS,
            queue_name=queue,
            redis_settings=redis_settings(self.rt.settings),  # its own pool
            burst=self.burst,
            on_startup=on_startup,
            handle_signals=False,
            max_jobs=w.max_jobs,
            job_completion_wait=int(w.job_timeout.total_seconds()),  # stop: finish jobs first
            job_timeout=w.job_timeout,
            keep_result=0,  # job ids are reusable at once: the sweeper may re-enqueue
            max_tries=1000,  # attempts are counted on our rows, not by arq
            poll_delay=0.05,
            ctx={"rt": self.rt},
        )
        self._started.append(worker)
        return worker

    async def async_run(self) -> None:
        """Burst: each queue until it is empty. Otherwise until `shutdown()`."""
        self._task = asyncio.current_task()
        if not self._reevaluated:  # the quiet hours may have changed with the restart
            self._reevaluated = True
            await reevaluate_held(self.rt.clock(), self.rt.settings.company)
        if self.burst:
            self.current = {q: self._arq(q) for q in QUEUES}
            await asyncio.gather(*(w.async_run() for w in self.current.values()))
            return
        sweeper = asyncio.create_task(_sweep_forever(self.rt, self.running))
        try:
            await asyncio.gather(*(self._keep(q) for q in QUEUES))
        finally:
            sweeper.cancel()

    async def _keep(self, queue: str) -> None:
        outage = False
        while not self._stopping:
            worker = self._arq(queue, after_outage=outage)
            self.current[queue] = worker
            try:
                await worker.async_run()
                return
            except REDIS_DOWN as exc:
                if not outage:
                    log.warning("worker lost Redis (%s); trying again every second", exc)
                outage = True
            except asyncio.CancelledError:
                if self._stopping and not self._cancelled():
                    return  # shutdown() ended arq's loop
                raise
            await self._retire(worker)
            await asyncio.sleep(1)

    def _cancelled(self) -> bool:
        task = asyncio.current_task()
        return bool(task and task.cancelling())

    async def _retire(self, worker: Worker) -> None:
        """After arq's loop ended on a Redis error: let the running jobs end (their rows
        hold the truth), then drop the worker's connections."""
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        try:
            await worker.close()
        except REDIS_DOWN:
            with contextlib.suppress(*REDIS_DOWN):
                await worker.pool.aclose()

    async def shutdown(self, timeout: float) -> None:
        """Stop taking jobs, let the running ones finish (up to `timeout` s), close."""
        self._stopping = True
        running = [w for w in self.current.values() if w.main_task and not w.main_task.done()]
        for worker in running:
            worker.handle_sig_wait_for_completion(signal.SIGTERM)
        if self._task is not None and not self._task.done():
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, *REDIS_DOWN):
                await self._task
        await self.close()

    async def close(self) -> None:
        for worker in self.current.values():
            try:
                await worker.close()
            except REDIS_DOWN:
                log.warning("worker closed without Redis")
        self.current = {}


def build_worker(rt: Runtime, *, burst: bool = False) -> Workers:
    return Workers(rt, burst=burst)


async def _write_metrics(path: Path) -> None:
    while True:
        try:
            metrics.write_to(path)
        except OSError as exc:
            log.warning("could not write the worker's metrics: %s", exc)
        await asyncio.sleep(metrics.WRITE_EVERY)


async def run_worker(
    settings: Settings,
    *,
    parent_pipe: int | None = None,
    metrics_to: Path | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """`offerbot worker`: a worker alone (SIGTERM lets running jobs finish); it waits
    Redis outages out, at start-up too. `parent_pipe`: as `serve`'s child, also stop when
    the parent is gone (bot/child_worker.py); `metrics_to`: write the metrics there for
    the parent's /metrics (bot/metrics.py); `on_started`: called once it is loaded and
    watches its parent, before it takes the first job (bot/child_worker.py)."""
    rt = await start_runtime(settings, migrate=False)
    if rt.redis is None:
        raise SystemExit("offerbot worker: Redis is not reachable")
    # The reply reader and the flows load before the first job, not inside it (the first
    # reply would wait seconds for them, its row claimed).
    try:
        rt.intents.read("你好")  # the local reader only (its word list loads on first use)
    except Exception:  # noqa: BLE001 - a reply will try again
        log.exception("loading the reply reader failed")
    router.table()
    workers = build_worker(rt)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if parent_pipe is not None:
        from bot.lifecycle import watch_parent

        watch_parent(parent_pipe, stop)
    if on_started is not None:
        on_started()
    run = asyncio.create_task(workers.async_run())
    stopping = asyncio.create_task(stop.wait())
    writer = asyncio.create_task(_write_metrics(metrics_to)) if metrics_to else None
    try:
        await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        await workers.shutdown(settings.worker.job_timeout.total_seconds())
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(OSError):
                metrics.write_to(metrics_to)  # the last counts
        log.info("worker stopped")
        await rt.close()
