"""What the candidate page shows besides the conversation: the offer, the buttons that
answer it, document progress k/n and, once complete, the onboarding guide.

The page is the `web` channel seen by one candidate: they write as their web address
(`Candidate.web_id`, given on their first visit), and the bot answers there, so every flow
runs unchanged. An invited candidate (no platform identity yet) is bound by opening the
page: it sends the binding flow the same event a 微信客服 entry link does.
"""

from __future__ import annotations

import secrets
from typing import Any

from bot.channels.base import Inbound
from bot.channels.web.channel import PAGE_ADDRESS_PREFIX
from bot.documents.checklist import load_progress
from bot.flows.alerts import offer_facts
from bot.flows.documents import guide_text
from bot.flows.offer_send import offer_actions
from bot.runtime import Runtime
from bot.services.fx import Fx
from bot.storage.models import Candidate, DocumentChecklist, Offer, Requisition
from bot.storage.offer_data import offer_data

PLATFORM = "web"
# The offer can still be answered with the buttons in these stages (docs/offer-flow.md).
ANSWERABLE = ("awaiting_delivery", "awaiting_reply", "hesitating", "undeliverable")
BIND_EVENT = "page-bind-offer-{offer_id}"  # one binding event per offer and web address


async def web_address(candidate: Candidate) -> str:
    """The candidate's address on the web channel, given on the first visit. Set with a
    conditional UPDATE, so two first requests at once agree on one address."""
    if candidate.web_id:
        return candidate.web_id
    new = f"{PAGE_ADDRESS_PREFIX}{candidate.id}-{secrets.token_hex(4)}"
    await Candidate.filter(id=candidate.id, web_id__isnull=True).update(web_id=new)
    await candidate.refresh_from_db(fields=["web_id"])
    return candidate.web_id or new


async def page_offer(candidate: Candidate) -> Offer | None:
    """The offer the page is about: the newest open one, else the newest."""
    mine = Offer.filter(candidate_id=candidate.id)
    return (
        await mine.filter(closed_at__isnull=True).order_by("-id").first()
        or await mine.order_by("-id").first()
    )


def binding_inbound(offer: Offer, address: str, rt: Runtime) -> Inbound | None:
    """For an invited candidate's offer: the event that binds the web address to it
    (bot/flows/binding.py), as the 微信客服 entry link sends it. None: nothing to bind."""
    if offer.status != "sent" or offer.stage != "awaiting_binding" or not offer.invite_code:
        return None
    if offer_data(offer).bound_to:
        return None
    return Inbound(
        platform=PLATFORM,
        event_id=f"{address}/{BIND_EVENT.format(offer_id=offer.id)}",
        sender_id=address,
        kind="event",
        event={"event": "enter_session"},
        binding_code=offer.invite_code or "",
        at=rt.clock(),
    )


def _action(action) -> dict[str, Any]:
    return {
        "key": action.key,
        "label": action.label,
        "style": action.style,
        "confirm": action.confirm,
        "value": {**action.value, "action": action.key},
    }


async def _documents(fx: Fx, offer: Offer, candidate: Candidate) -> dict[str, Any] | None:
    """Progress k/n once collection started (the offer was accepted)."""
    if offer.status not in ("accepted", "onboarded"):
        return None
    checklist = await DocumentChecklist.get_or_none(offer_id=offer.id)
    if checklist is None:
        return None
    progress = await load_progress(offer, fx.settings)
    language = fx.catalog.language
    result: dict[str, Any] = {
        "done": progress.done,
        "total": progress.total,
        "items": [{"name": s.item.name(language), "status": s.status} for s in progress.items],
        "guide": None,
    }
    if checklist.completed_at is not None:
        requisition = await Requisition.get_or_none(id=offer.requisition_id)
        result["guide"] = {
            "title": fx.t("documents.guide_title"),
            "text": guide_text(fx, offer, candidate, requisition),
        }
    return result


async def page_state(rt: Runtime, candidate: Candidate) -> dict[str, Any]:
    """Everything the page shows around the conversation (the JSON of `api/state`)."""
    fx = Fx(rt)
    offer = await page_offer(candidate)
    state: dict[str, Any] = {
        "language": rt.catalog.language,
        "company": rt.settings.company.name,
        "name": candidate.name,
        "words": rt.catalog.raw("candidate_page.ui"),
        "timezone": rt.settings.company.timezone,
        "max_upload_mb": rt.settings.storage.max_document_mb,
        "offer": None,
        "documents": None,
        "now": rt.clock().isoformat(),
    }
    if offer is None:
        return state
    facts = await offer_facts(fx, offer)
    answerable = offer.status == "sent" and offer.stage in ANSWERABLE
    state["offer"] = {
        "id": offer.id,
        **facts,
        "deadline": facts["deadline"] if offer.status == "sent" else "",
        "status": offer.status,
        "status_text": fx.t(f"candidate_page.status.{offer.status}"),
        "actions": [_action(a) for a in offer_actions(fx, offer)] if answerable else [],
    }
    state["documents"] = await _documents(fx, offer, candidate)
    return state
