"""Seed data and an HR chat for the HR-side tests (commands, re-applicants, statistics)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.channels.base import Inbound
from bot.privacy import normalize_phone
from bot.runtime import Runtime
from bot.services.ingest import store_inbound
from bot.storage.models import (
    Application,
    Candidate,
    Interview,
    Offer,
    Reason,
    Requisition,
)
from bot.vocab import STATUS_TIMESTAMP
from tests.helpers import drain, sent_messages

_events = itertools.count(1)
_ids = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def requisition(title: str = "后端工程师", **fields: Any) -> Requisition:
    fields.setdefault("external_id", f"R-{next(_ids)}")
    return await Requisition.create(title=title, **fields)


async def candidate(name: str, phone: str | None = None, **fields: Any) -> Candidate:
    return await Candidate.create(
        name=name, phone=phone, phone_norm=normalize_phone(phone), **fields
    )


async def application(
    who: Candidate, req: Requisition, applied_at: datetime, **fields: Any
) -> Application:
    return await Application.create(candidate=who, requisition=req, applied_at=applied_at, **fields)


async def interview(
    app: Application,
    round: int,
    held_at: datetime,
    *,
    score: int | None = None,
    notes: str | None = None,
    feedback_after: timedelta | None = None,
    interviewer: str | None = None,
) -> Interview:
    return await Interview.create(
        application=app,
        round=round,
        held_at=held_at,
        score=score,
        notes=notes,
        interviewer=interviewer,
        feedback_sent_at=held_at + feedback_after if feedback_after is not None else None,
    )


async def offer(
    app: Application,
    status: str = "sent",
    *,
    sent_at: datetime,
    closed_at: datetime | None = None,
    reason: str | None = None,
    reason_text: str | None = None,
    reason_row: bool = False,
    salary: int = 20000,
    **fields: Any,
) -> Offer:
    """An offer sent at `sent_at` that reached `status` at `closed_at` (default: a day
    later). `reason_row` stores the reason only as a `Reason` row, not on the offer."""
    await app.fetch_related("candidate", "requisition")
    when = closed_at or sent_at + timedelta(days=1)
    if status in STATUS_TIMESTAMP:
        fields[STATUS_TIMESTAMP[status]] = when
        fields["closed_at"] = when
    row = await Offer.create(
        application=app,
        candidate=app.candidate,
        requisition=app.requisition,
        salary_monthly=salary,
        start_date=date(2030, 1, 1),
        status=status,
        reason_category=None if reason_row else reason,
        reason_text=None if reason_row else reason_text,
        **fields,
    )
    await Offer.filter(id=row.id).update(created_at=sent_at)  # auto_now_add set it to now
    if reason_row and reason:
        kind = "renege" if status == "reneged" else "decline"
        await Reason.create(offer=row, kind=kind, category=reason, text=reason_text)
    return await Offer.get(id=row.id)


# -- talking to the bot as HR -------------------------------------------------------------


def hr_message(
    text: str = "",
    *,
    sender: str = "hr1",
    group: str | None = None,
    kind: str = "text",
    action: dict[str, Any] | None = None,
) -> Inbound:
    return Inbound(
        platform="web",
        event_id=f"hr-{next(_events)}",
        sender_id=sender,
        chat_type="group" if group else "p2p",
        chat_id=group or "",
        kind=kind,
        text=text,
        action=action or {},
    )


async def ask(rt: Runtime, text: str = "", **options: Any) -> dict[str, Any]:
    """Send HR's message through the durable path and return the bot's one answer."""
    inbound = hr_message(text, **options)
    where = f"chat:{inbound.chat_id}" if inbound.chat_type == "group" else inbound.sender_id
    before = len(await sent_messages("web", where))
    await store_inbound(rt, inbound)
    await drain(rt)
    answers = (await sent_messages("web", where))[before:]
    assert len(answers) == 1, answers
    return answers[0]
