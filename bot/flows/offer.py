"""The offer conversation (docs/offer-flow.md): the candidate's replies to an offer.

States and transitions: bot/flows/offer_state.py; sending the offer, reminders and timers:
bot/flows/offer_send.py.

What a reply does (intent from bot/understanding/; the buttons and the digits 1/2/3 are
accept / decline / question):

    offer is       accept        decline              hesitate, question     other
    sent           → accepted    → declined,          → hesitating: alert    nudge with 1/2/3
                   thanks, HR    alert, ask reason    (merged), acknowledge  (hesitating: add
                   told, docs                                                to the alert)
    accepted       (button:      → reneged, alert,    alert, acknowledge     not ours
                   "done")       ask reason
    awaiting a     the reply is the reason: menu 1..11 or words (classify_reason) → closed,
    reason         stored as `Reason`, HR's alert updated
    closed         polite answer; words that matter go to the open decline/renege/expiry
                   alert (HR may still win the candidate back)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from bot.channels.base import Inbound, Outgoing
from bot.flows import alerts, confirm, documents, reapply
from bot.flows.filters import known_candidate, private, stage, status
from bot.flows.offer_reasons import MENU_ONLY, REASON_CLICK, read_reason, reason_question
from bot.flows.offer_send import reminder_key
from bot.flows.offer_state import (
    CLOSED_STATUSES,
    ESCALATE,
    REMIND,
    move,
    offers_in_play,
    stop_waiting,
)
from bot.flows.router import Filter, Router, Turn
from bot.services.fx import Fx
from bot.storage.models import Candidate, Offer, Outbox, Reason
from bot.storage.offer_data import offer_data, set_offer_data
from bot.understanding.rules import normalise
from bot.vocab import REASON_CATEGORIES

OFFER_CLICKS = ("accept", "decline", "question")
REASON_STAGES = ("awaiting_decline_reason", "awaiting_renege_reason")
# The alert HR works on after an offer closed: late words from the candidate join it.
CLOSING_ALERT = {"declined": "decline", "reneged": "renege", "expired": "expiry"}
ASKED = "ask_to_confirm"  # a reply read as a decision the bot must confirm first

# The offer's reply routes; composed in bot/flows/routes.py.
router = Router("offer")


# -- replies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    intent: str
    concerns: tuple[str, ...] = ()
    text: str | None = None  # the candidate's words; None for a button
    click: str | None = None  # accept / decline / question / reason:<category>
    sure: bool = True  # buttons and digits always are; else the classifier says
    via: str | None = None  # "confirmed": a decision confirmed after the bot asked
    reading: dict[str, Any] | None = None  # how the bot read `text` (HR may correct it)


def _offer_input(turn: Turn) -> bool:
    """Words, or a click on one of our offer buttons (other clicks are not ours)."""
    if turn.inbound.kind == "action":
        return _click(turn.inbound) is not None
    return turn.inbound.kind == "text" and bool(turn.text)


async def _has_offer(turn: Turn) -> bool:
    """Loads the offer in question (row-locked) into `turn.data["offer"]`."""
    assert turn.candidate is not None  # `known_candidate` comes first
    if "offer" not in turn.data:
        offer_id = turn.inbound.action.get("offer_id")
        turn.data["offer"] = await _offer_in_question(turn, turn.candidate, offer_id)
    return turn.data["offer"] is not None


def clicked(*prefixes: str) -> Filter:
    return Filter(
        f"clicked={'|'.join(prefixes)}",
        lambda t: (_click(t.inbound) or "").startswith(prefixes),
    )


def intent(*intents: str) -> Filter:
    """What the reply means: the click, else the classifier's verdict (asked once per turn,
    only by the routes that need it)."""

    async def test(turn: Turn) -> bool:
        return (await _reply(turn)).intent in intents

    return Filter(f"intent={'|'.join(intents)}", test)


offer_reply = Filter("offer_reply", _offer_input)
has_offer = Filter("offer_in_question", _has_offer)
# A candidate's private message or button click about their offer; the offer is loaded by
# `has_offer` and the routes below differ in its status/stage and the reply's intent.
REPLY = (known_candidate, private, offer_reply, has_offer)


@router.turn(*REPLY, stage(*REASON_STAGES), ~clicked(*OFFER_CLICKS), name="offer_reason")
async def on_reason(turn: Turn) -> None:
    await _record_reason(turn, turn.data["offer"], _click(turn.inbound))


@router.turn(*REPLY, clicked(REASON_CLICK), name="offer_reason_again")
async def on_reason_again(turn: Turn) -> None:
    """A reason button once the reason is in already."""
    await _say(turn, turn.data["offer"], "offer.duplicate")


@router.turn(*REPLY, intent(ASKED), name="offer_confirm")
async def on_unsure(turn: Turn) -> None:
    """A decision the bot is not sure of: ask the candidate to confirm (bot/flows/confirm.py);
    nothing moves until they do."""
    offer, (kind, reply) = turn.data["offer"], turn.data["ask"]
    await _note_reply(turn.fx, offer, reply)
    assert reply.text is not None
    message = await confirm.ask(
        turn, offer, kind, concerns=reply.concerns, text=reply.text, reading=reply.reading or {}
    )
    await _send(turn, offer, message, "confirm")


@router.turn(*REPLY, status("sent"), intent("accept"), name="offer_accept")
async def on_accept(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply, cancel=(), save=False)  # stop_waiting does
    moved = await move(turn.fx, offer, "offer_accepted", via=_via(reply), also=REPLY_TIME)
    if not moved:
        await _save_reply_time(offer)
        await _stop_reminder(turn.fx, offer)
    await _accept(turn, offer, reply, moved=moved)


@router.turn(*REPLY, status("sent"), intent("decline"), name="offer_decline")
async def on_decline(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    await _close_by_candidate(turn, offer, reply, "offer_declined", "decline")


@router.turn(*REPLY, status("sent"), intent("hesitate", "question"), name="offer_doubt")
async def on_doubt(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    # HR takes it from here: no reminder, no "silent" alert while they talk (a 我有问题
    # click without words keeps the escalation: the question may never come).
    waiting = reply.text is None and reply.click == "question"
    cancel = (REMIND,) if waiting else (REMIND, ESCALATE)
    await _note_reply(turn.fx, offer, reply, cancel=cancel, save=False)
    if await _question_to_come(turn, offer, reply):
        return
    if not await move(turn.fx, offer, "offer_hesitating", also=REPLY_TIME):
        await _save_reply_time(offer)
    await _doubt(turn, offer, reply)


@router.turn(*REPLY, status("sent"), name="offer_other")
async def on_other(turn: Turn) -> None:
    """Anything else: added to HR's open question while they talk, else a 1/2/3 nudge."""
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    if offer.stage == "hesitating" and await alerts.open_alert_for(offer, "question", fx=turn.fx):
        await _tell_hr(turn, offer, reply, "question")
        await _say(turn, offer, "offer.noted")
    else:
        await _say(turn, offer, "offer.other_reply")


@router.turn(*REPLY, status("accepted"), intent("decline"), name="offer_renege")
async def on_renege(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    await _close_by_candidate(turn, offer, reply, "offer_reneged", "renege")


@router.turn(*REPLY, status("accepted"), intent("hesitate", "question"), name="offer_doubt_later")
async def on_doubt_after_accepting(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    if not await _question_to_come(turn, offer, reply):
        await _doubt(turn, offer, reply)


# "好的谢谢" after accepting matches no route here: the fallback answers.
@router.turn(*REPLY, status("accepted"), clicked("accept"), name="offer_accept_again")
async def on_accept_again(turn: Turn) -> None:
    await _say(turn, turn.data["offer"], "offer.already_accepted")


@router.turn(*REPLY, status(*CLOSED_STATUSES), name="offer_closed")
async def on_closed(turn: Turn) -> None:
    await _on_closed_offer(turn, turn.data["offer"], await _reply(turn))


def _click(inbound: Inbound) -> str | None:
    if inbound.kind != "action":
        return None
    action = str(inbound.action.get("action", ""))
    if action in OFFER_CLICKS:
        return action
    if action.startswith(REASON_CLICK) and action[len(REASON_CLICK) :] in REASON_CATEGORIES:
        return action
    return None


async def _offer_in_question(turn: Turn, candidate: Candidate, offer_id: Any) -> Offer | None:
    """The offer a click names (it must be this candidate's), else the one in play (a
    closed one only while no newer application exists: words then belong to that) —
    read row-locked, as `locked_offer` does, so replies, timers and delivery news for
    one offer take turns."""
    mine = Offer.filter(candidate_id=candidate.id).select_for_update()
    if offer_id is not None:
        try:
            return await mine.filter(id=int(offer_id)).first()
        except (TypeError, ValueError):
            return None
    offers = await offers_in_play(turn)
    for offer in offers:
        if offer.status in ("sent", "accepted") or offer.stage in REASON_STAGES:
            return offer
    closed = offers[0] if offers and offers[0].status in CLOSED_STATUSES else None
    return closed if closed and not await reapply.newer_application(closed) else None


async def _reply(turn: Turn) -> Reply:
    """The turn's reply, worked out once: the click, else the classifier's verdict on the
    words, settled against a confirmation the bot asked for (or `ASKED` when unsure)."""
    if "reply" not in turn.data:
        raw = await _understand(turn, _click(turn.inbound))
        turn.data["reply"] = await _settle(turn, turn.data["offer"], raw)
    return turn.data["reply"]


async def _understand(turn: Turn, click: str | None) -> Reply:
    if click is not None:
        return Reply(intent=click, click=click)
    result = turn.reading or await turn.fx.rt.intents.classify(turn.text)
    concerns = tuple(result.concerns)
    model = str(getattr(result, "model", "") or result.source)
    return Reply(
        intent=result.intent,
        concerns=concerns,
        text=turn.text,
        sure=bool(getattr(result, "sure", True)),
        reading={"intent": result.intent, "concerns": list(concerns), "model": model},
    )


async def _settle(turn: Turn, offer: Offer, reply: Reply) -> Reply:
    """Confirmation when unsure (bot/flows/confirm.py): the reply that answers the bot's
    question becomes the decision it confirms; an unsure decision reads as `ASKED`."""
    asked = await confirm.take(turn, offer)
    said_yes = reply.text is not None and confirm.YES_RX.match(normalise(reply.text))
    if asked is not None and (said_yes or (reply.sure and reply.intent == asked.intent)):
        return Reply(
            intent=asked.intent,
            concerns=asked.concerns,
            text=asked.text,
            click=reply.click,
            via="confirmed",
            reading=asked.reading,
        )
    tapped = reply.click == "question" or MENU_ONLY.match(normalise(reply.text or ""))
    if asked is not None and reply.intent == "question" and tapped:
        return Reply(
            intent="question",
            concerns=asked.concerns,
            text=asked.text,
            click="question",
            reading=asked.reading,
        )
    if reply.click is not None:  # buttons are always sure
        return reply
    if offer_data(offer).question_pending and reply.intent == "other":
        return replace(reply, intent="question", sure=True)  # the words they were asked for
    kind = confirm.question_for(offer, reply.intent, reply.sure, reply.concerns)
    if kind is None:
        return reply
    turn.data["ask"] = (kind, reply)  # the `offer_confirm` route asks
    return Reply(intent=ASKED, concerns=reply.concerns, text=reply.text, reading=reply.reading)


async def _on_closed_offer(turn: Turn, offer: Offer, reply: Reply) -> None:
    """No state change. HR still working on the loss hears what the candidate says now."""
    fx = turn.fx
    duplicate = reply.click == "decline" and offer.status in ("declined", "reneged")
    await _say(turn, offer, "offer.duplicate" if duplicate else f"offer.closed.{offer.status}")
    await fx.record(
        offer.candidate_id,
        "candidate_reply",
        {**_reply_data(reply), "offer_status": offer.status},
        offer_id=offer.id,
    )
    kind = CLOSING_ALERT.get(offer.status)
    if duplicate or kind is None or reply.intent == "other":
        return
    if await alerts.open_alert_for(offer, kind, fx=fx):
        await _tell_hr(turn, offer, reply, kind)


async def _accept(turn: Turn, offer: Offer, reply: Reply, *, moved: bool | None = None) -> None:
    """`moved`: the caller applied the transition already (True) or found it gone (False)."""
    fx, candidate = turn.fx, turn.candidate
    assert candidate is not None
    if moved is None:
        moved = await move(fx, offer, "offer_accepted", via=_via(reply))
    if not moved:
        return
    await stop_waiting(fx, offer)
    await _say(turn, offer, "offer.accepted", company=fx.settings.company.name)
    facts = await alerts.offer_facts(fx, offer)
    notice = fx.t(
        "alerts.accepted_notice",
        name=candidate.name,
        phone=alerts.phone_suffix(fx, candidate),
        job=facts["job"],
        start_date=facts["start_date"],
    )
    doubts = await alerts.open_alert_for(offer, "question", fx=fx)
    if doubts is not None:  # HR was talking them round: that alert can be closed now
        notice += "\n" + fx.t("alerts.accepted_open_alert", id=doubts.id)
    await fx.to_hr(
        Outgoing(text=notice),
        f"offer:{offer.id}:accepted",
        candidate_id=candidate.id,
        offer_id=offer.id,
        later=True,
    )
    await documents.start_documents(fx, offer, candidate)


async def _close_by_candidate(
    turn: Turn, offer: Offer, reply: Reply, event: str, alert_kind: str
) -> None:
    """Decline (or renege): closed at once, HR alerted, the reason asked for next."""
    fx = turn.fx
    if not await move(fx, offer, event, via=_via(reply)):
        return
    await stop_waiting(fx, offer)
    await _tell_hr(turn, offer, reply, alert_kind, merge=False)
    ask = "offer.ask_decline_reason" if alert_kind == "decline" else "offer.ask_renege_reason"
    await _send(turn, offer, reason_question(fx, offer, ask), "reason")


async def _question_to_come(turn: Turn, offer: Offer, reply: Reply) -> bool:
    """我有问题 without words yet: ask for the question; HR hears it with the words. If
    none come, the reminder is off but the "silent" escalation still runs."""
    if reply.text is not None or reply.click != "question":
        return False
    set_offer_data(offer, question_pending=True)
    await offer.save(update_fields=["data", "last_reply_at", "updated_at"])
    await _say(turn, offer, "offer.ask_question")
    return True


async def _doubt(turn: Turn, offer: Offer, reply: Reply) -> None:
    if offer_data(offer).question_pending:
        set_offer_data(offer, question_pending=False)
        await offer.save(update_fields=["data", "updated_at"])
    await _tell_hr(turn, offer, reply, reply.intent)
    if reply.intent == "hesitate":
        await _say(turn, offer, "offer.ack_hesitate")
    else:
        await _say(turn, offer, "offer.ack_question")


async def _record_reason(turn: Turn, offer: Offer, click: str | None) -> None:
    fx = turn.fx
    category, text = read_reason(turn.text, click)
    offer.reason_category = category  # the reason menu's card shows it (bot/flows/cards.py)
    if not await move(fx, offer, "reason_recorded", category=category, text=text):
        return
    kind = "decline" if offer.status == "declined" else "renege"
    await Reason.create(offer=offer, kind=kind, category=category, text=text)
    offer.reason_category, offer.reason_text = category, text
    await offer.save(update_fields=["reason_category", "reason_text", "updated_at"])
    assert turn.candidate is not None
    await alerts.raise_alert(
        fx,
        kind,
        candidate=turn.candidate,
        offer=offer,
        details={"reason_category": category, "reason_text": text},
        merge=True,
    )
    await _say(turn, offer, "offer.reason_thanks")


# -- reply helpers --------------------------------------------------------------------------


async def _note_reply(
    fx: Fx,
    offer: Offer,
    reply: Reply,
    *,
    cancel: tuple[str, ...] = (REMIND,),
    save: bool = True,
) -> None:
    """Every reply: remembered, on the timeline, and the pending reminder is off (see
    `_stop_reminder`). `save=False`: the caller's `move(…, also=REPLY_TIME)` writes the
    reply's time with the transition, one UPDATE (docs/performance.md), else `_save_reply_time`."""
    offer.last_reply_at = fx.now()
    await _stop_reminder(fx, offer, cancel)
    await fx.record(offer.candidate_id, "candidate_reply", _reply_data(reply), offer_id=offer.id)
    if save:
        await _save_reply_time(offer)


async def _stop_reminder(fx: Fx, offer: Offer, cancel: tuple[str, ...] = (REMIND,)) -> None:
    """`cancel`: those timers (none: the caller's `stop_waiting` cancels them all)."""
    if not cancel:
        return
    await fx.cancel_timers(offer_id=offer.id, kinds=list(cancel))
    if offer.reminders_sent:  # each reminder queued is counted: only then may one be held
        await Outbox.filter(  # the timer's reminder and any HR /remind still held
            offer_id=offer.id, status="pending", idempotency_key__startswith=reminder_key(offer)
        ).update(status="cancelled", last_error="the candidate replied")


REPLY_TIME = ("last_reply_at",)


async def _save_reply_time(offer: Offer) -> None:
    await offer.save(update_fields=["last_reply_at", "updated_at"])


def _reply_data(reply: Reply) -> dict[str, Any]:
    data = {
        "intent": reply.intent,
        "concerns": list(reply.concerns),
        "text": reply.text,
        "button": reply.click,
    }
    if not reply.sure or reply.via:
        data.update(sure=reply.sure, via=reply.via)
    return data


def _via(reply: Reply) -> str:
    return reply.via or ("button" if reply.click else "text")


async def _tell_hr(
    turn: Turn, offer: Offer, reply: Reply, kind: str, *, merge: bool = True
) -> None:
    assert turn.candidate is not None
    await alerts.raise_alert(
        turn.fx,
        kind,
        candidate=turn.candidate,
        offer=offer,
        reply=_words(turn.fx, reply),
        concerns=reply.concerns,
        merge=merge,
        reading=reply.reading if reply.text is not None else None,
    )


def _words(fx: Fx, reply: Reply) -> str:
    """What HR reads as the candidate's reply: their words, or which button they pressed."""
    if reply.text is not None:
        return reply.text
    return fx.t("alerts.clicked", label=fx.t(f"offer.button_{reply.click}"))


async def _say(turn: Turn, offer: Offer, key: str, **values: Any) -> None:
    await _send(turn, offer, Outgoing(text=turn.fx.t(key, **values)), key.rsplit(".", 1)[-1])


async def _send(turn: Turn, offer: Offer, message: Outgoing, purpose: str) -> None:
    """Answer the candidate where they wrote from (quiet hours apply to every answer)."""
    inbound = turn.inbound
    assert turn.candidate is not None
    origin = hashlib.sha256(f"{inbound.platform}:{inbound.event_id}".encode()).hexdigest()[:20]
    await turn.fx.to_candidate(
        turn.candidate,
        message,
        f"offer:{offer.id}:{purpose}:{origin}",
        offer=offer,
        platform=inbound.platform,
        address=inbound.sender_id,
        later=True,  # with the turn's other messages, one INSERT (docs/performance.md)
    )
