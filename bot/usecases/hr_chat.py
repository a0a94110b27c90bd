"""HR's offers typed in chat (`/offer`, see docs/hr-commands.md): the same use cases as
the ATS API (bot/usecases/ats.py), only without ATS ids. The candidate is matched by
phone, e-mail or chat id, the job is a known requisition or a new one, and the offer goes
through `ats.create_offer`, so the API and the chat cannot disagree.

Like `ats.create_offer`, `offer_in_chat` is a `TwoStep`: the platforms are asked first
(the worker does it before its transaction, bot/flows/routes.py `read_ahead`), the rows
are written inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

import bot.flows.offer_send as offer_flow
from bot.api_schemas import ApplicationIn, CandidateIn, OfferIn, RequisitionIn
from bot.channels.addresses import ADDRESS_FIELDS
from bot.privacy import normalize_phone
from bot.services import identity
from bot.services.fx import Fx
from bot.storage.models import Application, Candidate, Offer, Requisition
from bot.usecases import ats

ADDRESS_COLUMNS = tuple(attr for fields in ADDRESS_FIELDS.values() for attr, _ in fields)


@dataclass(frozen=True)
class ChatOffer:
    """An offer HR confirmed in chat: who, for which job (a known requisition's id or a
    new one), on which terms (`OfferIn` fields but the application, validated)."""

    person: CandidateIn
    job: int | RequisitionIn
    terms: dict[str, Any]
    web_id: str | None = None  # a playground identity: the API has no such field


def _identities(person: CandidateIn, web_id: str | None) -> Q | None:
    checks = []
    phone = normalize_phone(person.phone)
    if phone:
        checks.append(Q(phone_norm=phone))
    if person.email:
        checks.append(Q(email=person.email))
    for attr, value in (
        ("wecom_user_id", person.wecom_user_id),
        ("feishu_open_id", person.feishu_open_id),
        ("web_id", web_id),
    ):
        if value:
            checks.append(Q(**{attr: value}))
    return Q(*checks, join_type="OR") if checks else None


async def match_candidate(chat: ChatOffer) -> Candidate | None:
    """The live candidate HR means: the newest with the same phone, e-mail or chat id
    (a re-applicant keeps their history; HR typing has no ATS id)."""
    same = _identities(chat.person, chat.web_id)
    if same is None:
        return None
    return await Candidate.filter(same, erased_at__isnull=True).order_by("-id").first()


def _probe(existing: Candidate | None, chat: ChatOffer) -> Candidate:
    """An unsaved candidate as the offer will see them (to ask the platforms beforehand)."""
    sent = chat.person.model_dump(exclude_unset=True, exclude={"expectations"})
    if existing is not None:
        values = {f: getattr(existing, f) for f in (*ADDRESS_COLUMNS, "name", "phone", "email")}
        values.update({k: v for k, v in sent.items() if v is not None})
    else:
        values = sent
    if chat.web_id:
        values["web_id"] = chat.web_id
    values["phone_norm"] = normalize_phone(values.get("phone"))
    return Candidate(**{k: v for k, v in values.items() if k != "external_id"})


async def requisition_for(job: int | RequisitionIn) -> Requisition | None:
    if isinstance(job, int):
        return await Requisition.get_or_none(id=job)
    return None


async def advisory_preview(fx: Fx, chat: ChatOffer) -> list[str]:
    """What the pre-offer advisory will list (the same check `create_offer` runs), shown
    to HR before they confirm."""
    existing = await match_candidate(chat)
    wanted: dict[str, Any] = {}
    if chat.person.expectations is not None:
        wanted = chat.person.expectations.model_dump(exclude_none=True)
    elif existing is not None and isinstance(existing.expectations, dict):
        wanted = existing.expectations
    if not wanted:
        return []
    requisition = await requisition_for(chat.job)
    if requisition is None and isinstance(chat.job, RequisitionIn):
        requisition = Requisition(**chat.job.model_dump(exclude_none=True))
    if requisition is None:
        return []
    offer = Offer(
        salary_monthly=chat.terms["salary_monthly"], currency=chat.terms.get("currency") or "CNY"
    )
    return offer_flow.expectation_mismatches(fx, wanted, requisition, offer)


async def _look_up_chat_offer(fx: Fx, chat: ChatOffer) -> identity.Lookup:
    probe = _probe(await match_candidate(chat), chat)
    return await identity.look_up(fx, probe, chat.terms.get("channel"))


async def _chat_offer(
    fx: Fx, chat: ChatOffer, *, lookup: identity.Lookup | None
) -> tuple[Offer, dict[str, Any]]:
    candidate, _ = await ats.save_candidate(await match_candidate(chat), chat.person)
    if chat.web_id and candidate.web_id != chat.web_id:
        candidate.web_id = chat.web_id
        await candidate.save(update_fields=["web_id", "updated_at"])
    if isinstance(chat.job, int):
        requisition = await requisition_for(chat.job)
        if requisition is None:
            raise ats.NotFound("job", f"no requisition with id {chat.job}")
    else:
        requisition, _ = await ats.upsert_requisition(fx, chat.job)
    if requisition.external_id is None:  # made before external ids were required
        requisition.external_id = ats.chat_external_id()
        await requisition.save(update_fields=["external_id", "updated_at"])
    current = await Offer.filter(
        candidate_id=candidate.id, requisition_id=requisition.id, status__in=ats.OPEN_OFFER_STATUSES
    ).first()
    if current is not None:
        raise ats.Conflict(
            f"the candidate already has an open offer for this job (id {current.id})"
        )
    application = (
        await Application.filter(candidate_id=candidate.id, requisition_id=requisition.id)
        .filter(offers__id__isnull=True)
        .order_by("-id")
        .first()
    )
    if application is None:  # a new application: the re-applicant check runs on it
        application, _ = await ats.upsert_application(
            fx,
            ApplicationIn(
                candidate_id=candidate.id,
                requisition_external_id=requisition.external_id,
                source="hr_chat",
            ),
        )
    data = OfferIn(application_id=application.id, **chat.terms)
    return await ats.create_offer.store(fx, data, lookup=lookup)


# HR's /offer, confirmed: candidate (matched by phone, e-mail or chat id), the job, an
# application and the offer, through the same upserts and `create_offer` as the API.
offer_in_chat = ats.TwoStep(_look_up_chat_offer, _chat_offer)


async def open_offers(limit: int) -> list[Offer]:
    """Offers still in play (sent or accepted), oldest first."""
    return (
        await Offer.filter(status__in=ats.OPEN_OFFER_STATUSES)
        .order_by("created_at", "id")
        .limit(limit)
        .prefetch_related("candidate", "requisition")
    )
