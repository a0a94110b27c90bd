"""The offer's states and how they change (docs/offer-flow.md); shared by the offer flows.

`Offer.status` is what the ATS sees (docs/api.md); `Offer.stage` is where the conversation
stands inside that status. Every change goes through `TRANSITIONS` (applied by `move`
with a conditional UPDATE, so a duplicate click or a late timer changes nothing) and is
recorded on the timeline with who caused it (the candidate's `platform:id`, `api`, `timer`).

    status    stage                    meaning
    --------  -----------------------  ------------------------------------------------
    sent      new                      just stored (inside create_offer only)
    sent      awaiting_binding         no platform identity: invite code/link handed out
    sent      awaiting_delivery        offer message queued (quiet hours may hold it)
    sent      awaiting_reply           delivered: remind / escalate / expire timers armed
    sent      hesitating               hesitated or asked: HR alert open, reminder and
                                       "silent" escalation cancelled (HR is on it); the
                                       expiry stays armed
    sent      undeliverable            the offer message could not go out: HR has its
                                       text to send by hand; only the expiry is armed
    accepted  confirmed                the documents flow runs (bot/flows/documents.py)
    declined  awaiting_decline_reason  the next reply is the reason
    reneged   awaiting_renege_reason   the next reply is the reason
    declined / reneged /
    expired / withdrawn  closed        replies get a polite answer, nothing changes
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.channels.base import Outgoing
from bot.flows import cards
from bot.flows.router import Turn
from bot.services.fx import Fx
from bot.storage import sql
from bot.storage.models import (
    Candidate,
    DocumentChecklist,
    Offer,
    Outbox,
    Requisition,
)
from bot.storage.offer_data import offer_data
from bot.understanding.rules import normalise


def _edges(table: str) -> dict[str, dict[str, tuple[str, str]]]:
    """event -> {"status/stage" or "status/*": (status, stage)}, one table row per edge."""
    edges: dict[str, dict[str, tuple[str, str]]] = {}
    for row in table.strip().splitlines()[1:]:
        event, source, target = row.split()
        status, stage = target.split("/")
        edges.setdefault(event, {})[source] = (status, stage)
    return edges


# Every transition, one edge per row; the event is what the timeline records.
TRANSITIONS = _edges("""
    event                from                              to
    offer_invited        sent/new                          sent/awaiting_binding
    offer_queued         sent/new                          sent/awaiting_delivery
    offer_queued         sent/awaiting_binding             sent/awaiting_delivery
    offer_delivered      sent/awaiting_delivery            sent/awaiting_reply
    offer_delivered      sent/undeliverable                sent/awaiting_reply
    offer_undeliverable  sent/awaiting_delivery            sent/undeliverable
    offer_hesitating     sent/*                            sent/hesitating
    offer_accepted       sent/*                            accepted/confirmed
    offer_declined       sent/*                            declined/awaiting_decline_reason
    offer_reneged        accepted/*                        reneged/awaiting_renege_reason
    reason_recorded      declined/awaiting_decline_reason  declined/closed
    reason_recorded      reneged/awaiting_renege_reason    reneged/closed
    offer_expired        sent/*                            expired/closed
    offer_withdrawn      sent/*                            withdrawn/closed
    offer_withdrawn      accepted/*                        withdrawn/closed
    offer_onboarded      accepted/*                        onboarded/confirmed
""")
STAMPS = {
    "offer_accepted": ("accepted_at",),
    "offer_declined": ("declined_at", "closed_at"),
    "offer_reneged": ("reneged_at", "closed_at"),
    "offer_expired": ("expired_at", "closed_at"),
    "offer_withdrawn": ("withdrawn_at", "closed_at"),
    "offer_onboarded": ("onboarded_at", "closed_at"),
}

REMIND, ESCALATE, EXPIRE = "offer_remind", "offer_escalate", "offer_expire"
CLOSED_STATUSES = ("declined", "reneged", "expired", "withdrawn")
# Events after which the offer's cards show something else (bot/flows/cards.py).
CARD_EVENTS = (
    "offer_accepted",
    "offer_declined",
    "offer_reneged",
    "reason_recorded",
    "offer_expired",
    "offer_withdrawn",
    "offer_onboarded",
)


async def arm(fx: Fx, offer: Offer, kind: str, due: Any) -> None:
    name = kind.removeprefix("offer_")
    await fx.schedule(
        f"offer:{offer.id}:{name}", kind, due, offer_id=offer.id, candidate_id=offer.candidate_id
    )


# -- small pieces -------------------------------------------------------------------------


async def move(
    fx: Fx,
    offer: Offer,
    event: str,
    *,
    actor: str | None = None,
    also: tuple[str, ...] = (),
    **data: Any,
) -> bool:
    """Apply the transition `event` if the offer is still where the table allows it.
    `also`: offer fields changed in memory, written by the same UPDATE (with `updated_at`)."""
    edges = TRANSITIONS[event]
    target = edges.get(f"{offer.status}/{offer.stage}") or edges.get(f"{offer.status}/*")
    if target is None:
        return False
    status, stage = target
    before, after = f"{offer.status}/{offer.stage}", f"{status}/{stage}"
    changes: dict[str, Any] = {"status": status, "stage": stage}
    for stamp in STAMPS.get(event, ()):
        changes[stamp] = fx.now()
    if also:
        changes.update({name: getattr(offer, name) for name in also}, updated_at=fx.now())
    updated = await sql.update(
        Offer, {"id": offer.id, "status": offer.status, "stage": offer.stage}, changes
    )
    if not updated:  # someone else moved it first
        return False
    for name, value in changes.items():
        setattr(offer, name, value)
    if before != after:
        await fx.record(
            offer.candidate_id,
            event,
            {"from": before, "to": after, **data},
            offer_id=offer.id,
            application_id=offer.application_id,
            actor=actor,
        )
    if event in CARD_EVENTS:
        await cards.refresh_offer(fx, offer, click=fx.click)
    return True


async def locked_offer(offer_id: int | None) -> Offer | None:
    """The offer, row-locked until the transaction ends: replies, timers and delivery news
    for one offer take turns (PostgreSQL; SQLite serialises writers anyway)."""
    if offer_id is None:
        return None
    return await Offer.filter(id=offer_id).select_for_update().first()


OFFERS_READ = 10  # a candidate's latest offers a turn looks at


async def offers_in_play(turn: Turn) -> list[Offer]:
    """The turn's candidate's latest offers, newest first, row-locked as `locked_offer`
    does; read once per turn, with what a reply reads next (docs/performance.md, "The
    reply path"): `turn.data["checklists"]` maps an offer to its document checklist id,
    and the requisitions and "no open alert" are noted on the turn's fx."""
    assert turn.candidate is not None
    if "offers" not in turn.data:
        found = await sql.candidate_offers(Offer, Requisition, turn.candidate.id, OFFERS_READ)
        note_offers(turn, found)
    return turn.data["offers"]


def note_offers(turn: Turn, found: list) -> None:
    """What `sql.candidate_offers` (or `sql.candidate_with_offers`, the worker's read of
    the candidate and their offers in one statement) found, as `offers_in_play` keeps it."""
    turn.data["offers"] = [offer for offer, *_ in found]
    turn.data["checklists"] = {o.id: c for o, c, _, _ in found if c is not None}
    for offer, _, open_alert, requisition in found:
        if not open_alert:
            turn.fx.alert_free.add(offer.id)
        if offer.requisition_id is not None:
            turn.fx.read_requisition(offer.requisition_id, requisition)


async def offer_with_checklist(turn: Turn, statuses: tuple[str, ...]) -> Offer | None:
    """Of the candidate's offers in one of `statuses`, the one with the newest document
    checklist (bot/flows/documents.py), from `offers_in_play`; a candidate with more
    offers than that reads is looked up in full."""
    assert turn.candidate is not None
    offers = await offers_in_play(turn)
    if len(offers) < OFFERS_READ:
        checklists = turn.data["checklists"]
        mine = [o for o in offers if o.id in checklists and o.status in statuses]
        return max(mine, key=lambda o: checklists[o.id], default=None)
    checklist = (
        await DocumentChecklist.filter(
            offer__candidate_id=turn.candidate.id, offer__status__in=statuses
        )
        .order_by("-id")
        .first()
    )
    return await Offer.get(id=checklist.offer_id) if checklist else None


async def stop_waiting(fx: Fx, offer: Offer) -> None:
    """A decision was made: no timer of this offer and no held candidate message matter."""
    await fx.cancel_timers(offer_id=offer.id, later=True)
    held = Outbox.filter(offer_id=offer.id, recipient_kind="user", status="pending")
    known = fx.held.pop(offer.id, None)  # read with the cards (cards.refresh_offer)
    if known is not None:
        if not known:
            return
        held = held.filter(id__in=known)
    await held.exclude(idempotency_key__startswith=cards.KEY_PREFIX).update(  # not the cards
        status="cancelled", last_error=f"offer {offer.status}"
    )


async def live_candidate(offer: Offer) -> Candidate | None:
    return await Candidate.get_or_none(id=offer.candidate_id, erased_at__isnull=True)


async def to_offer_address(
    fx: Fx, offer: Offer, candidate: Candidate, message: Outgoing, purpose: str
) -> Outbox | None:
    """Where the offer went (the platform the candidate was bound on), else any address."""
    key = f"offer:{offer.id}:{purpose}"
    target = offer_data(offer).address
    if target:
        platform, address = target
        return await fx.to_candidate(
            candidate, message, key, offer=offer, platform=platform, address=address
        )
    return await fx.to_candidate(candidate, message, key, offer=offer)


def duration_text(fx: Fx, seconds: float) -> str:
    if seconds >= 3600:
        return fx.t("alerts.waited_hours", n=int(seconds // 3600))
    return fx.t("alerts.waited_minutes", n=max(1, int(seconds // 60)))


def number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def same_place(wanted: str, place: str) -> bool:
    """One place names the other ("上海" / "上海市浦东新区"), ignoring case and width."""
    a, b = (re.sub(r"\s+", "", normalise(x)) for x in (wanted, place))
    return bool(a and b) and (a in b or b in a)
