"""Delivering the outbox: claim a row, send it through its channel, note the outcome;
and the claim (a lease with one conditional UPDATE) every job of bot/worker.py starts
with. Split from bot/worker.py, which re-exports `deliver` for arq."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from arq import Retry
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from bot import metrics
from bot.channels.base import HR_GROUP, Outgoing, PermanentError, Recipient, TransientError
from bot.flows import routes as router
from bot.runtime import Runtime
from bot.storage import sql
from bot.storage.models import Conversation, Outbox

log = logging.getLogger(__name__)


def lease(rt: Runtime) -> timedelta:
    return rt.settings.worker.stale_after


async def claim(model, pk: int, rt: Runtime, *extra: Q, **filters: Any) -> bool:
    """Take the row for this process, if nobody holds a live lease on it."""
    now = rt.clock()
    free = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    updated = await model.filter(Q(id=pk), free, *extra, **filters).update(
        locked_until=now + lease(rt), attempts=F("attempts") + 1
    )
    return updated == 1


async def claim_row(model, pk: int, rt: Runtime, extra: str = "", *values: Any):
    """`claim` and the row it took in one statement (UPDATE … RETURNING: bot/storage/sql.py);
    None when somebody else holds it or it is no longer pending."""
    now = rt.clock()
    return await sql.claim_row(model, pk, now, now + lease(rt), extra, *values)


@contextlib.asynccontextmanager
async def kept(rt: Runtime, model, row) -> AsyncIterator[None]:
    """Keep the lease of a row this job claimed for as long as the job runs: every third
    of `stale_after` it moves on by `stale_after`, from a task of its own, so a job that
    takes longer than the lease (downloads, a slow platform) is never run a second time
    beside itself; a worker that dies stops renewing and its work comes back as before
    (docs/redis.md, "What happens on a crash")."""
    task = asyncio.create_task(_keep(rt, model, row.pk, row.attempts))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _keep(rt: Runtime, model, pk: int, attempts: int) -> None:
    every = lease(rt).total_seconds() / 3
    while True:
        await asyncio.sleep(every)
        try:
            if not await sql.extend_claim(model, pk, attempts, rt.clock() + lease(rt)):
                return  # let go by the job itself, or claimed by another since
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("extending the lease of %s %s failed: %s", model.__name__, pk,
                        type(exc).__name__)  # fmt: skip


# -- delivery -----------------------------------------------------------------------


def backoff(rt: Runtime, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, at least what the platform asked for."""
    d = rt.settings.delivery
    cap = min(
        d.backoff_max.total_seconds(), d.backoff_base.total_seconds() * 2 ** max(attempt - 1, 0)
    )
    delay = random.uniform(cap / 2, cap)
    return max(delay, retry_after or 0.0)


async def _reserve_session_slot(rt: Runtime, row: Outbox) -> tuple[str | None, bool]:
    """Apply a platform's session rule (WeCom kf: 5 messages within 48 h of the user's last
    message). The slot is taken with ONE conditional UPDATE before sending, so concurrent
    deliveries cannot overspend the budget. Returns (why it may not go out, slot taken)."""
    channel = rt.channels[row.platform]
    limit = channel.session_limit(row.recipient_id)
    if limit is None or row.recipient_kind != "user":
        return None, False
    conv = await Conversation.get_or_none(platform=row.platform, user_id=row.recipient_id)
    if conv is None or conv.last_inbound_at is None:
        return "window_closed", False
    if rt.clock() - conv.last_inbound_at > limit.window:
        return "window_closed", False
    taken = await Conversation.filter(id=conv.id, sent_since_inbound__lt=limit.budget).update(
        sent_since_inbound=F("sent_since_inbound") + 1
    )
    if not taken:
        return "budget_spent", False
    return None, True


async def _release_session_slot(row: Outbox) -> None:
    await Conversation.filter(
        platform=row.platform, user_id=row.recipient_id, sent_since_inbound__gt=0
    ).update(sent_since_inbound=F("sent_since_inbound") - 1)


async def _give_up(rt: Runtime, row: Outbox, status: str, reason: str) -> None:
    fx = rt.fx()
    async with in_transaction():
        await Outbox.filter(id=row.id).update(status=status, last_error=reason, locked_until=None)
        row.status, row.last_error = status, reason
        if row.recipient_kind == "user":
            await router.undeliverable(fx, row, reason)
    await fx.flush()


# A candidate's messages go out in order, (not_before, id): a message to a user is not
# claimed while an earlier one to the same user is still pending (e.g. waiting for its
# retry), whatever happened to the earlier one's queue entry (docs/guarantees.md, order).
# Not for the HR group: its alerts are separate news, and a burst of them is merged into
# one post under the robot's rate limit (bot/channels/wecom/robot.py), not sent in a row.
_NOTHING_EARLIER_PENDING = (  # {table}: the outbox's table (bot/storage/sql.py::execute)
    '({table}."recipient_kind"<>? OR NOT EXISTS (SELECT 1 FROM {table} e '
    'WHERE e."platform"={table}."platform" AND e."recipient_id"={table}."recipient_id" '
    'AND e."status"=? AND e."id"<>{table}."id" AND (e."not_before"<{table}."not_before" '
    'OR (e."not_before"={table}."not_before" AND e."id"<{table}."id"))))'
)
# How long a message behind an earlier pending one waits before it looks again.
_BEHIND_POLL = (0.5, 10.0)  # seconds: first wait, longest wait


async def deliver(ctx: dict[str, Any], outbox_id: int) -> str:
    rt: Runtime = ctx["rt"]
    now = rt.clock()
    row = await claim_row(
        Outbox,
        outbox_id,
        rt,
        '"not_before"<=? AND ' + _NOTHING_EARLIER_PENDING,
        sql.db_value(Outbox, "not_before", now),
        "user",
        "pending",
    )
    if row is None:
        row = await Outbox.get_or_none(id=outbox_id)
        if row is None or row.status != "pending":
            return "skipped"
        if row.not_before > now:
            raise Retry(defer=(row.not_before - now).total_seconds())
        if row.locked_until is not None and row.locked_until > now:
            return "skipped"  # another job holds it
        # Free and due, so an earlier message to the same recipient is pending: after it.
        first, longest = _BEHIND_POLL
        raise Retry(defer=min(longest, first * 2 ** min(ctx.get("job_try", 1) - 1, 8)))
    async with kept(rt, Outbox, row):
        return await _deliver_claimed(rt, row)


@dataclass
class _Sent:
    """A message the platform took, to be noted as sent (`_note_sent`)."""

    row: Outbox
    message_id: str | None
    slot: bool  # a session slot was reserved for it (already counted)


async def _deliver_claimed(rt: Runtime, row: Outbox) -> str:
    """Send a row this job claimed, and note what became of it."""
    outcome = await _send_claimed(rt, row)
    if isinstance(outcome, str):
        return outcome
    await _note_sent(rt, [outcome])
    return "sent"


async def _send_claimed(rt: Runtime, row: Outbox) -> _Sent | str:
    """Send a row this job claimed: what to note as sent, or what became of it instead."""
    channel = rt.channels.get(row.platform)
    if channel is None:
        await _give_up(rt, row, "failed", f"channel {row.platform} is not enabled")
        return "failed"
    closed, slot = await _reserve_session_slot(rt, row)
    if closed:
        await _give_up(rt, row, "held", closed)
        metrics.DELIVERIES.labels(row.platform, "held").inc()
        return "held"
    message = Outgoing.model_validate(row.payload)
    kind = "hr_group" if row.recipient_id == HR_GROUP else "user"
    try:
        try:
            result = await channel.send(
                Recipient(kind, row.recipient_id), message, row.idempotency_key
            )
        except BaseException:  # any failure, a job timeout's cancellation too
            if slot:
                await _release_session_slot(row)
            raise
    except TransientError as exc:
        if row.attempts >= rt.settings.delivery.max_attempts:
            await _give_up(rt, row, "failed", f"gave up after {row.attempts} attempts: {exc}")
            metrics.DELIVERIES.labels(row.platform, "failed").inc()
            return "failed"
        await Outbox.filter(id=row.id).update(last_error=str(exc)[:500], locked_until=None)
        metrics.DELIVERIES.labels(row.platform, "retry").inc()
        raise Retry(defer=backoff(rt, row.attempts, exc.retry_after)) from exc
    except PermanentError as exc:
        await _give_up(rt, row, "failed", f"{exc.code}: {exc}" if exc.code else str(exc))
        metrics.DELIVERIES.labels(row.platform, "failed").inc()
        return "failed"
    return _Sent(row, result.message_id or None, slot)


async def _note_sent(rt: Runtime, sent: list[_Sent]) -> None:
    """Mark what the platforms took as sent, with one UPDATE for all of them, and tell
    the flows (their delivery news), in one transaction."""
    if not sent:
        return
    fx = rt.fx()
    cases = " ".join("WHEN ? THEN ?" for _ in sent)
    ids = ",".join("?" * len(sent))
    async with in_transaction():
        await sql.execute(
            Outbox,
            'UPDATE {table} SET "status"=?, "sent_at"=?, '
            f'"platform_message_id"=CASE "id" {cases} END, '
            f'"locked_until"=NULL, "last_error"=NULL WHERE "id" IN ({ids})',
            [
                "sent",
                sql.db_value(Outbox, "sent_at", rt.clock()),
                *(v for s in sent for v in (s.row.id, s.message_id)),
                *(s.row.id for s in sent),
            ],
        )
        for s in sent:
            row = s.row
            # A reserved slot is already counted; a platform without a session budget
            # never reads the count (bot/channels/base.py: session_limit).
            limited = rt.channels[row.platform].session_limit(row.recipient_id) is not None
            if row.recipient_kind == "user" and not s.slot and limited:
                await Conversation.filter(platform=row.platform, user_id=row.recipient_id).update(
                    sent_since_inbound=F("sent_since_inbound") + 1
                )
            row.status, row.platform_message_id = "sent", s.message_id
            await router.delivered(fx, row)
    await fx.flush()
    for s in sent:
        metrics.DELIVERIES.labels(s.row.platform, "sent").inc()


def repeat_absorbed(row: Outbox) -> bool:
    """Whether sending this row a second time (after a crash between the send and its
    "sent" mark) shows the recipient nothing new, by the platform's own de-duplication
    (docs/guarantees.md, "One effect"): the playground keys what it shows by the outbox
    key; Feishu drops a repeated `uuid` (derived from the key) within an hour, and a card
    PATCH with the same content changes nothing; WeCom app messages to a member carry
    `enable_duplicate_check` (and cards a `task_id` from the key). Not absorbed: WeCom's
    HR group robot, 微信客服, app group chats, card updates (a response code is used
    once) and images (uploaded again), SMS, e-mail and the rest."""
    if row.platform in ("web", "feishu"):
        return True
    if row.platform != "wecom" or row.recipient_kind != "user":
        return False
    payload = row.payload if isinstance(row.payload, dict) else {}
    if payload.get("replaces") or payload.get("kind") == "image":
        return False
    return not row.recipient_id.startswith(("kf:", "chat:"))


async def _deliver_now(ctx: dict[str, Any], fx) -> None:
    """After a job's commit: enqueue what waits, and deliver what may go now in this same
    job — one recipient's messages in order, different recipients side by side, in
    rounds: every recipient's first message, then every second one … A worker's turn
    wrote its messages claimed (Fx._write); others (a timer's) are claimed with one
    statement a round. What a round sent is noted as sent with one statement, together
    with the rounds before whose sends a repeat would not show twice (`repeat_absorbed`),
    their leases kept meanwhile: so one statement for all rounds when every message is
    of that kind, one a round otherwise (docs/performance.md, "The reply path"). This
    saves a trip through the queue per message (bench/FINDINGS.md, end to end). A
    message that must be retried goes to the queue with its backoff; one that fails here
    for any other reason is still pending in the database, and the sweeper enqueues it."""
    rt: Runtime = ctx["rt"]
    due_now = fx.take_due_now()
    claimed: dict[int, Outbox] = fx.take_claimed()
    await fx.flush()
    rounds = max(map(len, due_now), default=0)
    unmarked: list[_Sent] = []  # sent in earlier rounds, not yet noted
    waiting: dict[int, datetime] = {}  # group -> when its message that did not go out is retried
    for depth in range(rounds):
        here = [g for g, group in enumerate(due_now) if len(group) > depth]
        # A recipient whose earlier message did not go out gets the rest after it, never
        # before: they leave this job, to be delivered after that retry.
        behind = [g for g in here if g in waiting]
        if behind:
            await _after_the_retry(rt, claimed, [(due_now[g][depth], waiting[g]) for g in behind])
            waiting |= {g: waiting[g] + _BEHIND for g in behind}  # the next one after this
        here = [g for g in here if g not in waiting]
        ids = [due_now[g][depth] for g in here]
        await _renew_leases(rt, claimed, ids)  # a statement only when a lease ran low
        # Not written claimed (a timer's messages): each round claims its own.
        unclaimed = [i for i in ids if i not in claimed]
        if unclaimed:
            now = rt.clock()
            try:
                at = sql.db_value(Outbox, "not_before", now)
                claimed |= await sql.claim_rows(
                    Outbox, unclaimed, now, now + lease(rt), '"not_before"<=?', at
                )
            except Exception:  # noqa: BLE001 - each is claimed on its own below
                log.exception("claiming %d messages to deliver failed", len(unclaimed))
        async with contextlib.AsyncExitStack() as keeping:
            for s in unmarked:  # sent, not noted yet: nobody else may take them meanwhile
                await keeping.enter_async_context(kept(rt, Outbox, s.row))
            outcomes = await asyncio.gather(*(_send_one(ctx, i, claimed.get(i)) for i in ids))
        for g, outcome in zip(here, outcomes, strict=True):
            if isinstance(outcome, _Later):
                waiting[g] = outcome.at
        sent = [o for o in outcomes if isinstance(o, _Sent)]
        unmarked += sent
        last = depth == rounds - 1
        if last or not all(repeat_absorbed(s.row) for s in sent) or _lease_low(rt, unmarked):
            try:
                await _note_sent(rt, unmarked)
            except Exception:  # noqa: BLE001 - still pending: the sweeper enqueues them
                log.exception("noting %d messages as sent failed", len(unmarked))
            unmarked = []


def _lease_low(rt: Runtime, sent: list[_Sent]) -> bool:
    """A lease taken for a message sent (not noted yet) has less than half of it left."""
    now, full = rt.clock(), lease(rt)
    return any(
        s.row.locked_until is None or s.row.locked_until - now < full / 2 for s in sent
    )


async def _renew_leases(rt: Runtime, claimed: dict[int, Outbox], ids: list[int]) -> None:
    """Of `ids` this job claimed, those whose lease has less than half of it left (the
    commit or the rounds before took long) get a new one if nobody claimed them since (same attempt
    count); the others leave `claimed`, to be claimed like any other."""
    now, full = rt.clock(), lease(rt)
    for i in [i for i in ids if i in claimed]:
        row = claimed[i]
        if row.locked_until is not None and row.locked_until - now >= full / 2:
            continue
        found = await sql.rows(
            Outbox,
            'UPDATE {table} SET "locked_until"=? WHERE "id"=? AND "attempts"=? AND "status"=? '
            "RETURNING *",
            [sql.db_value(Outbox, "locked_until", now + full), row.id, row.attempts, "pending"],
        )
        if found:
            claimed[i] = found[0]
        else:
            del claimed[i]


@dataclass
class _Later:
    """A message of `_deliver_now`'s round that did not go out: queued again for `at`."""

    at: datetime


async def _send_one(
    ctx: dict[str, Any], outbox_id: int, row: Outbox | None
) -> _Sent | _Later | None:
    """One message of `_deliver_now`'s round: what to note as sent, the retry it waits
    for, or None (done with otherwise: held, failed for good, or sent on its own)."""
    rt: Runtime = ctx["rt"]
    try:
        if row is None:  # not claimed with the round: on its own, start to end
            await deliver(ctx, outbox_id)
            return None
        async with kept(rt, Outbox, row):  # a slow platform keeps the lease
            outcome = await _send_claimed(rt, row)
        return outcome if isinstance(outcome, _Sent) else None
    except Retry as retry:
        at = rt.clock() + timedelta(milliseconds=retry.defer_score or 0)
        await rt.enqueuer.deliver(outbox_id, at=at)
        return _Later(at)
    except Exception:  # noqa: BLE001 - the row is pending: the queue retries it
        log.exception("delivering outbox %s failed; queued for a retry", outbox_id)
        await rt.enqueuer.deliver(outbox_id)
        return _Later(rt.clock())


# How long after the retry of a recipient's earlier message the next one is queued.
_BEHIND = timedelta(seconds=1)


async def _after_the_retry(
    rt: Runtime, claimed: dict[int, Outbox], behind: list[tuple[int, datetime]]
) -> None:
    """Messages whose recipient's earlier message is queued for a retry at `at`: queued
    for just after it, their leases given back so that job can claim them (a statement
    only on this failure path). Still pending in the database meanwhile: if a queue
    entry is lost, the sweeper delivers them."""
    mine = [i for i, _ in behind if i in claimed]
    if mine:
        try:
            await Outbox.filter(id__in=mine, status="pending").update(locked_until=None)
        except Exception:  # noqa: BLE001 - their leases lapse: the queued jobs claim them then
            log.exception("giving back the leases of %d messages failed", len(mine))
    for i, at in behind:
        claimed.pop(i, None)
        await rt.enqueuer.deliver(i, at=at + _BEHIND)
