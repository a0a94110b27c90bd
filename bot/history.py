"""A candidate's history in one place: applications with their interviews and offers,
HR notes, alerts and timeline events (candidate replies, reminders, ...).

`load_history` reads it for one candidate row or several rows that are the same person
(the ATS may create a new record when someone applies again). `/history` and the
re-applicant alert render it with `bot/history_text.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.storage.models import (
    Alert,
    Application,
    Candidate,
    Note,
    Offer,
    TimelineEvent,
)
from bot.vocab import STATUS_TIMESTAMP

RECENT_EVENTS = 20


def offer_closed_at(offer: Offer) -> datetime | None:
    """When the offer reached its current status (None while it is still `sent`)."""
    attr = STATUS_TIMESTAMP.get(offer.status)  # when it left `sent`
    if attr is None:
        return None
    return getattr(offer, attr) or offer.closed_at


def offer_ended_at(offer: Offer) -> datetime:
    """When the offer reached its status; for an offer still waiting, when it was sent."""
    return offer_closed_at(offer) or offer.created_at


def offer_reason(offer: Offer) -> tuple[str | None, str | None]:
    """(category, verbatim text) of a decline or renege: the offer's own fields, else the
    latest stored Reason (requires `reasons` prefetched)."""
    if offer.reason_category:
        return offer.reason_category, offer.reason_text
    reasons = sorted(getattr(offer, "reasons", []) or [], key=lambda r: r.id)
    if reasons:
        return reasons[-1].category, reasons[-1].text
    return None, None


@dataclass
class CandidateHistory:
    candidates: list[Candidate]
    applications: list[Application]  # interviews, offers (+ reasons), requisition prefetched
    notes: list[Note]
    alerts: list[Alert]
    events: list[TimelineEvent]  # the most recent ones, oldest first

    @property
    def candidate(self) -> Candidate:
        return self.candidates[0]

    @property
    def offers(self) -> list[Offer]:
        return [o for a in self.applications for o in a.offers]


async def load_history(candidates: Iterable[Candidate]) -> CandidateHistory:
    rows = list(candidates)
    ids = [c.id for c in rows]
    applications = (
        await Application.filter(candidate_id__in=ids)
        .order_by("applied_at", "id")
        .prefetch_related("interviews", "offers", "offers__reasons", "requisition")
    )
    for app in applications:
        app.interviews_sorted = sorted(app.interviews, key=lambda i: (i.round, i.id))
    notes = await Note.filter(candidate_id__in=ids).order_by("created_at", "id")
    alerts = await Alert.filter(candidate_id__in=ids).order_by("created_at", "id")
    events = (
        await TimelineEvent.filter(candidate_id__in=ids).order_by("-at", "-id").limit(RECENT_EVENTS)
    )
    return CandidateHistory(rows, list(applications), list(notes), list(alerts), events[::-1])
