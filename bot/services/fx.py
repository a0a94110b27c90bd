"""Effects a flow may have, recorded in the database first and acted on after commit.

A flow never calls a platform. It writes outbox rows (messages), timer rows, timeline
events and alerts inside the caller's transaction; `flush()` then enqueues the jobs that
deliver and fire them. If the process dies between commit and flush, the sweeper finds
the rows and enqueues them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.channels.addresses import addresses_of
from bot.channels.base import HR_GROUP, Outgoing
from bot.config import Settings
from bot.i18n import Catalog
from bot.privacy import scrub
from bot.services.quiet import next_allowed
from bot.storage import sql
from bot.storage.db import scrub_after_erasure
from bot.storage.jsonsafe import json_safe
from bot.storage.models import (
    Alert,
    Candidate,
    Offer,
    Outbox,
    Requisition,
    TimelineEvent,
    Timer,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def candidate_address(candidate: Candidate, preferred: str | None, enabled: Iterable[str]):
    """(platform, address) to reach the candidate, or None when they must be invited."""
    enabled = list(enabled)
    order = ([preferred] if preferred else []) + [p for p in enabled if p != preferred]
    for platform in order:
        if platform not in enabled:
            continue
        for address in addresses_of(candidate, platform):
            return platform, address
    return None


def for_group(message: Outgoing) -> Outgoing:
    """A group chat has many readers: whatever reached the message (a name or job title
    from the ATS, the candidate's words, a delivery error) goes with phone numbers masked
    and ID numbers removed (see docs/guarantees.md)."""
    return message.model_copy(
        update={
            "text": scrub(message.text),
            "title": scrub(message.title),
            "actions": tuple(
                a.model_copy(update={"label": scrub(a.label)}) for a in message.actions
            ),
        }
    )


OUTBOX = (
    *("idempotency_key", "platform", "recipient_kind", "recipient_id", "candidate_id"),
    *("offer_id", "alert_id", "payload", "status", "attempts", "not_before", "locked_until"),
    "created_at",
)


@dataclass
class _Row:
    """An outbox row to write (Fx._queue)."""

    key: str
    platform: str
    recipient_kind: str
    recipient_id: str
    candidate_id: int | None
    offer_id: int | None
    alert_id: int | None
    payload: Any
    not_before: datetime

    @property
    def recipient(self) -> str:
        return f"{self.platform}:{self.recipient_id}"


@dataclass
class Fx:
    rt: Runtime
    actor: str = "system"
    # (outbox id, when it may go: None = now, recipient) of the messages written
    _deliveries: list[tuple[int, datetime | None, str]] = field(default_factory=list)
    _timers: list[tuple[int, datetime]] = field(default_factory=list)
    # The click this turn answers (Inbound.extra): a WeCom click's response code is what
    # updates that very card (bot/flows/cards.py).
    click: dict[str, Any] = field(default_factory=dict)
    # set by an erasure: flush() then scrubs the database files (see docs/privacy.md)
    erased: bool = False
    # With `batch_records` (the worker's jobs), timeline events wait here and are written
    # with one INSERT by `write_records()` before the commit (docs/performance.md).
    batch_records: bool = False
    _records: list[TimelineEvent] = field(default_factory=list)
    # id -> the messages written claimed in this turn (see `_write`)
    _claimed: dict[int, Outbox] = field(default_factory=dict)
    _later: list[_Row] = field(default_factory=list)  # held back (`_queue`'s `later`)
    _requisitions: dict[int, Requisition | None] = field(default_factory=dict)
    # Offers this turn read along with "no open alert" (bot/flows/offer_state.py:
    # offers_in_play): nobody needs to look for one; opening one for the offer forgets it.
    alert_free: set[int] = field(default_factory=set)
    # offer id -> its pending candidate messages, read with its cards (cards.refresh_offer)
    held: dict[int, list[int]] = field(default_factory=dict)
    _cancels: list[tuple[int, tuple[str, ...] | None]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    @property
    def catalog(self) -> Catalog:
        return self.rt.catalog

    def t(self, key: str, /, **values: Any) -> str:
        return self.rt.catalog.t(key, **values)

    def now(self) -> datetime:
        return self.rt.clock()

    # -- messages -------------------------------------------------------------------

    async def _queue(
        self,
        *,
        platform: str,
        recipient_kind: str,
        recipient_id: str,
        message: Outgoing,
        key: str,
        not_before: datetime,
        candidate_id: int | None = None,
        offer_id: int | None = None,
        alert_id: int | None = None,
        later: bool = False,
    ) -> Outbox | None:
        """Write the outbox row (None: `later`, in a worker's turn: held back and written
        with the turn's other held-back rows in one INSERT, by `write_records` before the
        commit or before the next row written at once, so ids keep the order of writing)."""
        payload = sql.db_value(Outbox, "payload", json_safe(message.model_dump(mode="json")))
        row = _Row(
            key, platform, recipient_kind, recipient_id, candidate_id, offer_id, alert_id,
            payload, not_before,
        )  # fmt: skip
        if later and self.batch_records:
            self._later.append(row)
            return None
        await self._write_later()
        (written,) = await self._write([row])
        return written or await Outbox.get(idempotency_key=key)

    async def _write_later(self) -> None:
        rows, self._later = self._later, []
        if rows:
            await self._write(rows)

    async def _write(self, rows: list[_Row]) -> list[Outbox | None]:
        """One statement: the key's unique index skips a message written before (same
        effect as looking for it first); None for those. In a worker's turn, a message
        that may go now is written claimed (lease and attempt, as bot/delivery.py's
        claim): the job sends it right after its commit (bot/delivery.py: _deliver_now),
        with no statement to claim it."""
        now = self.now()
        lease = sql.db_value(Outbox, "locked_until", now + self.settings.worker.stale_after)
        values, claims = [], []
        for r in rows:
            claim = self.batch_records and r.not_before <= now
            claims.append(claim)
            values.append(
                [r.key, r.platform, r.recipient_kind, r.recipient_id, r.candidate_id]
                + [r.offer_id, r.alert_id, r.payload, "pending", 1 if claim else 0]
                + [sql.db_value(Outbox, "not_before", r.not_before), lease if claim else None]
                + [sql.db_value(Outbox, "created_at", utcnow())]
            )
        tail = ' ON CONFLICT ("idempotency_key") DO NOTHING RETURNING *'
        found = [Outbox._init_from_db(**d) for d in await sql.insert(Outbox, OUTBOX, values, tail)]
        by_key: dict[str, Outbox] = {row.idempotency_key: row for row in found}
        written: list[Outbox | None] = []
        for r, claim in zip(rows, claims, strict=True):
            row = by_key.pop(r.key, None)  # a key twice in one batch: written once
            written.append(row)
            if row is None:
                continue
            if claim:
                self._claimed[row.id] = row
            at = r.not_before if r.not_before > now else None
            self._deliveries.append((row.id, at, r.recipient))
        return written

    async def to_candidate(
        self,
        candidate: Candidate,
        message: Outgoing,
        key: str,
        offer: Offer | None = None,
        platform: str | None = None,
        address: str | None = None,
        later: bool = False,
    ) -> Outbox | None:
        """Queue a message for the candidate; held until quiet hours end. None = unreachable
        (or written `later`: see `_queue`)."""
        if address is None:
            target = candidate_address(
                candidate, platform or (offer.channel if offer else None), self.rt.platforms
            )
            if target is None:
                return None
            platform, address = target
        assert platform is not None
        return await self._queue(
            platform=platform,
            recipient_kind="user",
            recipient_id=address,
            message=message,
            key=key,
            not_before=next_allowed(self.now(), self.settings.company),
            candidate_id=candidate.id,
            offer_id=offer.id if offer else None,
            later=later,
        )

    async def to_user(self, platform: str, address: str, message: Outgoing, key: str) -> Outbox:
        """A direct answer (HR commands, replies to a user we have no candidate for)."""
        return await self._queue(
            platform=platform,
            recipient_kind="user",
            recipient_id=address,
            message=message,
            key=key,
            not_before=self.now(),
        )

    async def replace_card(
        self, card: Outbox, message: Outgoing, version: str, *, later: bool = False
    ) -> Outbox | None:
        """A card's replacement (bot/flows/cards.py), to where the card went: never held by
        quiet hours (it is the card's state, not news), one per card and version; `later`:
        see `_queue`."""
        return await self._queue(
            platform=card.platform,
            recipient_kind=card.recipient_kind,
            recipient_id=card.recipient_id,
            message=message,
            key=f"card:{card.id}:{version}",
            not_before=self.now(),
            candidate_id=card.candidate_id,
            offer_id=card.offer_id,
            alert_id=card.alert_id,
            later=later,
        )

    async def to_hr(
        self,
        message: Outgoing,
        key: str,
        candidate_id: int | None = None,
        offer_id: int | None = None,
        alert_id: int | None = None,
        later: bool = False,
    ) -> list[Outbox]:
        """Queue for the HR group of every enabled platform. Never held by quiet hours.
        With `later` (a worker's turn), written later: none returned (see `_queue`)."""
        message = for_group(message)
        rows = []
        for platform in self.rt.hr_platforms:
            rows.append(
                await self._queue(
                    platform=platform,
                    recipient_kind="hr_group",
                    recipient_id=HR_GROUP,
                    message=message,
                    key=f"{key}@{platform}",
                    not_before=self.now(),
                    candidate_id=candidate_id,
                    offer_id=offer_id,
                    alert_id=alert_id,
                    later=later,
                )
            )
        return [row for row in rows if row is not None]

    # -- reads a job repeats ----------------------------------------------------------

    async def requisition(self, requisition_id: int | None) -> Requisition | None:
        """The requisition, read once per worker turn (an offer's facts are shown more
        than once); elsewhere (an API call, the importer's loop) read each time."""
        if requisition_id is None:
            return None
        if not self.batch_records:
            return await Requisition.get_or_none(id=requisition_id)
        if requisition_id not in self._requisitions:
            found = await Requisition.get_or_none(id=requisition_id)
            self._requisitions[requisition_id] = found
        return self._requisitions[requisition_id]

    def read_requisition(self, requisition_id: int, found: Requisition | None) -> None:
        """A requisition read along with something else, for `requisition` (a turn only)."""
        if self.batch_records:
            self._requisitions[requisition_id] = found

    # -- alerts ---------------------------------------------------------------------

    async def open_alert(
        self,
        kind: str,
        *,
        candidate_id: int | None,
        offer_id: int | None,
        data: dict[str, Any],
        merge_open: bool = False,
        current: Alert | None = None,
    ) -> tuple[Alert, bool]:
        """Create an alert, or with `merge_open` update the open one of this kind for the
        offer (repeated hesitant replies must not flood the group); a caller that has
        already read that open alert passes it as `current`. Returns (alert, created)."""
        if merge_open and (offer_id is not None or current is not None):
            if current is None:
                current = (
                    await Alert.filter(offer_id=offer_id, kind=kind, status__in=("open", "claimed"))
                    .order_by("-id")
                    .first()
                )
            if current:
                current.data = {**current.data, **data}
                current.updates += 1
                await current.save()
                return current, False
        alert = await sql.create(
            Alert, kind=kind, candidate_id=candidate_id, offer_id=offer_id, data=data
        )
        self.alert_free.discard(offer_id or 0)
        return alert, True

    # -- timers ---------------------------------------------------------------------

    async def schedule(
        self,
        key: str,
        kind: str,
        due_at: datetime,
        *,
        offer_id: int | None = None,
        candidate_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> Timer:
        """Create or re-arm the timer `key` (one timer per key), with one statement: an
        existing timer keeps its row, offer and attempts and is pending again."""
        (timer,) = await self.schedule_all([(key, kind, due_at, offer_id, candidate_id, data)])
        return timer

    async def schedule_all(
        self,
        timers: list[tuple[str, str, datetime, int | None, int | None, dict[str, Any] | None]],
    ) -> list[Timer]:
        """`schedule` for several timers, (key, kind, due_at, offer_id, candidate_id, data)
        each with a key of its own, in one statement."""
        if not timers:
            return []
        cancels, self._cancels = self._cancels, []  # held back: in the same statement
        found = await sql.arm_timers(Timer, [(*t, utcnow()) for t in timers], cancels)
        found = [Timer._init_from_db(**row) for row in found]
        by_key = {timer.key: timer for timer in found}  # RETURNING keeps no order
        armed = [by_key[key] for key, *_ in timers]
        for timer, (_, _, due_at, *_) in zip(armed, timers, strict=True):
            self._timers.append((timer.id, due_at))
        return armed

    async def cancel_timers(
        self, *, offer_id: int, kinds: Iterable[str] | None = None, later: bool = False
    ) -> None:
        """The offer's pending timers (of `kinds`) cancelled; `later` (a worker's turn): by
        the next `schedule_all`'s statement, else `write_records` (docs/performance.md)."""
        wanted = tuple(kinds) if kinds is not None else None
        if later and self.batch_records:
            self._cancels.append((offer_id, wanted))
            return
        await sql.cancel_timers(Timer, offer_id, wanted)

    async def _write_cancels(self) -> None:
        cancels, self._cancels = self._cancels, []
        for offer_id, kinds in cancels:
            await sql.cancel_timers(Timer, offer_id, kinds)

    # -- history --------------------------------------------------------------------

    async def record(
        self,
        candidate_id: int,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        offer_id: int | None = None,
        application_id: int | None = None,
        actor: str | None = None,
    ) -> TimelineEvent:
        event = TimelineEvent(
            candidate_id=candidate_id,
            kind=kind,
            actor=actor or self.actor,
            data=data or {},
            offer_id=offer_id,
            application_id=application_id,
            at=utcnow(),
        )
        if not self.batch_records:
            await event.save()
            return event
        self._records.append(event)
        return event

    async def write_records(self) -> None:
        """Write the outbox rows held back (`_queue`'s `later`) and the timeline events
        recorded so far, in order, with one statement each. Call inside the transaction,
        before it commits and before reading the timeline."""
        await self._write_later()
        await self._write_cancels()
        events, self._records = self._records, []
        if not events:
            return
        columns = ("candidate_id", "offer_id", "application_id", "kind", "actor", "data", "at")
        await sql.insert(
            TimelineEvent,
            columns,
            [
                [e.candidate_id, e.offer_id, e.application_id, e.kind, e.actor]
                + [sql.db_value(TimelineEvent, "data", e.data)]
                + [sql.db_value(TimelineEvent, "at", e.at)]
                for e in events
            ],
        )

    # -- after commit ---------------------------------------------------------------

    def take_due_now(self) -> list[list[int]]:
        """Hand over the messages that may go out now, grouped by recipient in the order
        they were written; `flush()` then enqueues only the rest. The worker delivers them
        in the job that wrote them (no trip through the queue); if it dies first, the
        rows are still pending and the sweeper enqueues them."""
        by_recipient: dict[str, list[int]] = {}
        later = []
        for outbox_id, at, recipient in self._deliveries:
            if at is None:
                by_recipient.setdefault(recipient, []).append(outbox_id)
            else:
                later.append((outbox_id, at, recipient))
        self._deliveries = later
        return list(by_recipient.values())

    def take_claimed(self) -> dict[int, Outbox]:
        """The messages written claimed (`_queue`), by id, for the job to send now."""
        claimed, self._claimed = self._claimed, {}
        return claimed

    async def flush(self) -> None:
        """Enqueue the jobs for what was written. Call after the transaction commits."""
        deliveries, timers = self._deliveries, self._timers
        self._deliveries, self._timers = [], []
        if self.erased:
            self.erased = False
            await scrub_after_erasure()
        horizon = self.now() + timedelta(seconds=max(60, 4 * self.rt.sweep_seconds))
        for outbox_id, at, _recipient in deliveries:
            # Messages held for quiet hours wait in the database; the sweeper enqueues them
            # when they come due (Redis holds only what is due soon).
            if at is None or at <= horizon:
                await self.rt.enqueuer.deliver(outbox_id, at=at)
        for timer_id, due in timers:
            # Far-off timers are left to the sweeper: Redis holds only what is due soon.
            if due <= horizon:
                await self.rt.enqueuer.timer(timer_id, at=due)

    def discard(self) -> None:
        """The transaction rolled back: nothing written may be enqueued."""
        self._deliveries, self._timers, self._records = [], [], []
        self._claimed, self._later = {}, []
        self._cancels, self.held = [], {}
        self.erased = False
