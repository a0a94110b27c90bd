"""What the company's ATS pushes and reads, as storage operations (see docs/api.md).

The HTTP API, the CSV importer and HR's chat commands (through bot/usecases/hr_chat.py)
all call these, so a row imported from a file, one pushed over HTTP and one typed in chat
go through the same code. They sit above the flows they start (the offer
conversation, the re-applicant check): see docs/architecture.md. Call them inside
`in_transaction()` and `await fx.flush()` after the commit: a new application may queue a
re-applicant alert, an offer queues its message.

Creates are upserts by `external_id` where one is given. An update changes only the
fields the caller sent (an ATS pushing part of a record must not wipe the rest).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import BaseModel
from tortoise.transactions import in_transaction

import bot.flows.offer_send as offer_flow
import bot.flows.reapply as reapply
from bot.api_schemas import (
    ApplicationIn,
    CandidateIn,
    InterviewIn,
    OfferHistoryIn,
    OfferIn,
    RequisitionIn,
)
from bot.flows.offer_state import move
from bot.privacy import normalize_phone
from bot.services import identity
from bot.services.fx import Fx
from bot.storage.models import (
    Alert,
    Application,
    Candidate,
    Document,
    Interview,
    Note,
    Offer,
    Outbox,
    Reason,
    Requisition,
    TimelineEvent,
)
from bot.vocab import STATUS_TIMESTAMP  # history imports fill these columns

log = logging.getLogger(__name__)

# An offer still in play: the company may withdraw it, a new one may not be created.
OPEN_OFFER_STATUSES = ("sent", "accepted")
CLOSED_STATUSES = ("declined", "expired", "withdrawn", "reneged", "onboarded")


class NotFound(LookupError):
    """A referenced record does not exist; `field` names the reference in the request."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class Conflict(Exception):
    """The request is valid but the record's state forbids it (HTTP 409)."""


def _changes(data: BaseModel, created: bool, exclude: set[str] | None = None) -> dict[str, Any]:
    """All fields (with defaults) for a new row; only the fields sent for an update."""
    return data.model_dump(exclude_unset=not created, exclude=exclude)


async def _save(model, existing, values: dict[str, Any]):
    if existing is None:
        return await model.create(**values), True
    existing.update_from_dict(values)
    await existing.save()
    return existing, False


# -- look-ups -----------------------------------------------------------------------------


async def find_candidate(candidate_id: int | None = None, external_id: str | None = None):
    """A live (not erased) candidate by bot id or ATS id; NotFound names the field."""
    if candidate_id is not None:
        found = await Candidate.get_or_none(id=candidate_id, erased_at__isnull=True)
        if found is None:
            raise NotFound("candidate_id", f"no candidate with id {candidate_id}")
        return found
    found = await Candidate.get_or_none(external_id=external_id, erased_at__isnull=True)
    if found is None:
        raise NotFound("candidate_external_id", f"no candidate with external_id {external_id!r}")
    return found


async def find_requisition(external_id: str) -> Requisition:
    found = await Requisition.get_or_none(external_id=external_id)
    if found is None:
        raise NotFound(
            "requisition_external_id", f"no requisition with external_id {external_id!r}"
        )
    return found


async def find_application(
    application_id: int | None = None, external_id: str | None = None
) -> Application:
    if application_id is not None:
        found = await Application.get_or_none(id=application_id)
        if found is None:
            raise NotFound("application_id", f"no application with id {application_id}")
        return found
    found = await Application.get_or_none(external_id=external_id)
    if found is None:
        raise NotFound(
            "application_external_id", f"no application with external_id {external_id!r}"
        )
    return found


# -- upserts ------------------------------------------------------------------------------


async def upsert_requisition(fx: Fx, data: RequisitionIn) -> tuple[Requisition, bool]:
    existing = await Requisition.get_or_none(external_id=data.external_id)
    return await _save(Requisition, existing, _changes(data, existing is None))


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


async def upsert_candidate(fx: Fx, data: CandidateIn) -> tuple[Candidate, bool]:
    existing = None
    if data.external_id is not None:
        existing = await Candidate.get_or_none(external_id=data.external_id)
        if existing is not None and existing.erased_at is not None:
            existing = None  # an erased person comes back as a new record
    return await save_candidate(existing, data)


async def save_candidate(existing: Candidate | None, data: CandidateIn) -> tuple[Candidate, bool]:
    values = _changes(data, existing is None, exclude={"expectations"})
    if "phone" in values:
        values["phone_norm"] = normalize_phone(values["phone"])
    if existing is None or "expectations" in data.model_fields_set:
        values["expectations"] = None
        if data.expectations is not None:
            wanted = data.expectations.model_dump(exclude_none=True)
            if "salary_min" in wanted:
                wanted["salary_min"] = _json_number(wanted["salary_min"])
            values["expectations"] = wanted
    return await _save(Candidate, existing, values)


async def upsert_application(fx: Fx, data: ApplicationIn) -> tuple[Application, bool]:
    """By `external_id`; without one, the same candidate, requisition and `applied_at` is
    the same application (so a re-run import or a retried push does not duplicate it).
    A new application goes to the re-applicant check (see docs/reapply-stats.md)."""
    candidate = await find_candidate(data.candidate_id, data.candidate_external_id)
    requisition = await find_requisition(data.requisition_external_id)
    existing = None
    if data.external_id is not None:
        existing = await Application.get_or_none(external_id=data.external_id)
    elif data.applied_at is not None:
        existing = await Application.filter(
            candidate_id=candidate.id, requisition_id=requisition.id, applied_at=data.applied_at
        ).first()
    values = _changes(
        data,
        existing is None,
        exclude={"candidate_id", "candidate_external_id", "requisition_external_id"},
    )
    values.update(candidate_id=candidate.id, requisition_id=requisition.id)
    if existing is None and values.get("applied_at") is None:
        values["applied_at"] = fx.now()
    application, created = await _save(Application, existing, values)
    if created:
        await reapply.application_created(fx, application)
    return application, created


async def upsert_interview(fx: Fx, data: InterviewIn) -> tuple[Interview, bool]:
    """One row per (application, round)."""
    application = await find_application(data.application_id, data.application_external_id)
    existing = await Interview.get_or_none(application_id=application.id, round=data.round)
    values = _changes(data, existing is None, exclude={"application_id", "application_external_id"})
    values["application_id"] = application.id
    return await _save(Interview, existing, values)


# -- offers -------------------------------------------------------------------------------


async def _offerable(data: OfferIn) -> Application:
    application = await find_application(data.application_id, data.application_external_id)
    await application.fetch_related("candidate")
    if application.candidate.erased_at is not None:
        raise Conflict("the candidate's personal data was erased")
    current = await Offer.filter(
        application_id=application.id, status__in=OPEN_OFFER_STATUSES
    ).first()
    if current is not None:
        # An ATS retrying its POST must not send the candidate a second offer.
        raise Conflict(f"application already has an open offer (id {current.id})")
    return application


@dataclass(frozen=True)
class TwoStep:
    """An operation whose platform calls come first, outside the transaction (`ask`), and
    whose storage work then runs inside it (`store`, given what `ask` returned as
    `lookup`).
    `committed` runs the two steps apart; called directly, it runs both in a row."""

    ask: Callable[..., Awaitable[Any]]
    store: Callable[..., Awaitable[Any]]

    async def __call__(self, fx: Fx, *args: Any) -> Any:
        return await self.store(fx, *args, lookup=await self.ask(fx, *args))


async def _look_up_offer_candidate(fx: Fx, data: OfferIn) -> identity.Lookup | None:
    """Before the transaction: find the candidate on the platforms, or draft an invite."""
    application = await find_application(data.application_id, data.application_external_id)
    candidate = await Candidate.get(id=application.candidate_id)
    if candidate.erased_at is not None:
        return None  # refused inside (`_offerable`)
    return await identity.look_up(fx, candidate, data.offer_fields().get("channel"))


async def _create_offer(
    fx: Fx, data: OfferIn, *, lookup: identity.Lookup | None
) -> tuple[Offer, dict[str, Any]]:
    application = await _offerable(data)
    return await offer_flow.create_offer(
        fx, application=application, fields=data.offer_fields(), lookup=lookup
    )


# Store the offer and start the conversation (flows/offer.py owns what follows). Returns
# the offer and extra answer fields (invite_url / invite_code).
create_offer = TwoStep(_look_up_offer_candidate, _create_offer)


# -- HR in chat: the same upserts and offer, without ATS ids (docs/hr-commands.md) ---------


def chat_external_id() -> str:
    """The external id of a requisition HR created in chat (the API requires one)."""
    return f"chat-{uuid.uuid4().hex[:12]}"


async def update_requisition(fx: Fx, requisition: Requisition, data: RequisitionIn) -> Requisition:
    """`/job <id> key=value`: change only the fields HR sent, like an ATS's partial push."""
    requisition, _ = await _save(Requisition, requisition, _changes(data, False))
    return requisition


def _history_values(data: OfferHistoryIn, fx: Fx) -> dict[str, Any]:
    """Offer columns for an imported offer: its status and the moments it changed."""
    sent_at = data.sent_at
    values: dict[str, Any] = {"status": data.status}
    for column in STATUS_TIMESTAMP.values():
        moment = getattr(data, column)
        if moment is not None:
            values[column] = moment
    status_column = STATUS_TIMESTAMP.get(data.status)
    if status_column and values.get(status_column) is None:
        values[status_column] = sent_at or fx.now()
    if data.status in CLOSED_STATUSES:
        values["closed_at"] = values[status_column]
    if sent_at is not None:
        values["delivered_at"] = sent_at
    if data.reason_category is not None or data.reason_text is not None:
        values["reason_category"] = data.reason_category or "other"
        values["reason_text"] = data.reason_text
    return values


async def import_offer(fx: Fx, data: OfferHistoryIn) -> tuple[Offer, bool]:
    """An offer from the past (CSV import): stored as it was; nobody is messaged and no
    timer starts. The same application and start date is the same offer on a re-run."""
    application = await find_application(data.application_id, data.application_external_id)
    existing = await Offer.filter(application_id=application.id, start_date=data.start_date).first()
    values = {**data.offer_fields(), **_history_values(data, fx)}
    values.update(
        application_id=application.id,
        candidate_id=application.candidate_id,
        requisition_id=application.requisition_id,
    )
    offer, created = await _save(Offer, existing, values)
    if data.sent_at is not None:
        # "Sent" is the row's creation time: statistics count offers by it.
        await Offer.filter(id=offer.id).update(created_at=data.sent_at)
        offer.created_at = data.sent_at
    if offer.status in ("declined", "reneged") and offer.reason_category:
        kind = "decline" if offer.status == "declined" else "renege"
        reason = await Reason.filter(offer_id=offer.id, kind=kind).first()
        await _save(
            Reason,
            reason,
            {
                "offer_id": offer.id,
                "kind": kind,
                "category": offer.reason_category,
                "text": offer.reason_text,
            },
        )
    if created:
        await fx.record(
            application.candidate_id,
            "offer_imported",
            {"status": offer.status},
            offer_id=offer.id,
            application_id=application.id,
        )
    return offer, created


async def _locked(offer: Offer) -> Offer:
    """The offer re-read inside the transaction, row-locked where the database can (a
    candidate's reply handled meanwhile must not be overwritten by a stale copy)."""
    return await Offer.filter(id=offer.id).select_for_update().get()


async def withdraw_offer(fx: Fx, offer: Offer) -> Offer:
    offer = await _locked(offer)
    if offer.status not in OPEN_OFFER_STATUSES:
        raise Conflict(f"the offer is already {offer.status}")
    return await offer_flow.withdraw_offer(fx, offer)


async def mark_onboarded(fx: Fx, offer: Offer) -> Offer:
    """HR confirms the candidate started. Only an accepted offer can be onboarded."""
    offer = await _locked(offer)
    if offer.status != "accepted":
        raise Conflict(f"only an accepted offer can be marked onboarded (it is {offer.status})")
    if not await move(fx, offer, "offer_onboarded", actor="api"):
        raise Conflict("the offer changed meanwhile; look at it again")
    # Document reminders and the start-date check have nothing left to do.
    await fx.cancel_timers(offer_id=offer.id)
    return offer


# -- reads --------------------------------------------------------------------------------


async def offer_history(offer: Offer) -> dict[str, list]:
    """Rows that belong to one offer, oldest first."""
    return {
        "reasons": await Reason.filter(offer_id=offer.id).order_by("id"),
        "documents": await Document.filter(offer_id=offer.id).order_by("id"),
        "timeline": await TimelineEvent.filter(offer_id=offer.id).order_by("at", "id"),
    }


async def candidate_history(candidate: Candidate) -> dict[str, list]:
    """Everything stored about one candidate, oldest first."""
    applications = await Application.filter(candidate_id=candidate.id).order_by("applied_at")
    return {
        "applications": applications,
        "interviews": await Interview.filter(
            application_id__in=[a.id for a in applications]
        ).order_by("held_at", "round"),
        "offers": await Offer.filter(candidate_id=candidate.id).order_by("id"),
        "messages": await Outbox.filter(candidate_id=candidate.id).order_by("id"),
        "alerts": await Alert.filter(candidate_id=candidate.id).order_by("id"),
        "notes": await Note.filter(candidate_id=candidate.id).order_by("id"),
        "timeline": await TimelineEvent.filter(candidate_id=candidate.id).order_by("at", "id"),
    }


# -- running one operation ----------------------------------------------------------------


async def committed(fx: Fx, operation, *args: Any) -> Any:
    """Run `operation(fx, *args)` in its own transaction, then enqueue what it queued.

    Nothing is enqueued when it fails. An enqueue failure after the commit is logged,
    not raised: the rows are stored and the sweeper enqueues them."""
    if isinstance(operation, TwoStep):  # its platform calls before the transaction
        operation = partial(operation.store, lookup=await operation.ask(fx, *args))
    try:
        async with in_transaction():
            result = await operation(fx, *args)
    except BaseException:
        fx.discard()
        raise
    try:
        await fx.flush()
    except Exception:  # noqa: BLE001 - stored is what counts; the sweeper catches up
        log.warning("enqueue after commit failed; the sweeper will pick the work up")
    return result
