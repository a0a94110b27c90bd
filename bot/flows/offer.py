"""The offer conversation (docs/offer-flow.md): `POST /api/v1/offers` to the candidate's decision.

`Offer.status` is what the ATS sees (docs/api.md); `Offer.stage` is where the conversation
stands inside that status. Every change goes through `TRANSITIONS` (applied by `_move`
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

Timers (keys `offer:<id>:remind|escalate|expire`) start when the offer message is
delivered: one reminder after `offer_unconfirmed_after` if there is no reply yet, a
"silent" HR alert after `offer_escalate_after` unless HR already has the candidate's
doubts, expiry at `expires_at`. A default `expires_at` counts from delivery; an explicit
one is a fixed date (armed at creation). Any reply cancels the reminder (and a reminder
held by quiet hours); a decision cancels everything still waiting.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.expressions import F

from bot.channels.base import Action, Inbound, Outgoing
from bot.flows import alerts, confirm, documents
from bot.flows.filters import known_candidate, private
from bot.flows.router import Filter, Router, Turn
from bot.services import identity
from bot.services.fx import Fx
from bot.services.quiet import next_allowed
from bot.storage.models import (
    Application,
    Candidate,
    Offer,
    Outbox,
    Reason,
    Requisition,
    TimelineEvent,
    Timer,
)
from bot.understanding.rules import classify_reason, normalise
from bot.vocab import REASON_CATEGORIES


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
""")
STAMPS = {
    "offer_accepted": ("accepted_at",),
    "offer_declined": ("declined_at", "closed_at"),
    "offer_reneged": ("reneged_at", "closed_at"),
    "offer_expired": ("expired_at", "closed_at"),
    "offer_withdrawn": ("withdrawn_at", "closed_at"),
}

REMIND, ESCALATE, EXPIRE = "offer_remind", "offer_escalate", "offer_expire"
OFFER_CLICKS = ("accept", "decline", "question")
REASON_CLICK = "reason:"
REASON_STAGES = ("awaiting_decline_reason", "awaiting_renege_reason")
CLOSED_STATUSES = ("declined", "reneged", "expired", "withdrawn")
# The alert HR works on after an offer closed: late words from the candidate join it.
CLOSING_ALERT = {"declined": "decline", "reneged": "renege", "expired": "expiry"}
ASKED = "ask_to_confirm"  # a reply read as a decision the bot must confirm first
MENU_ONLY = re.compile(r"^(?:我?选|第)?\s*\d{1,2}\s*(?:号|个|项)?\s*$")

# The offer's routes (replies, timers, delivery news); composed in bot/flows/routes.py.
router = Router("offer")


# -- the API's entry points -------------------------------------------------------------


async def create_offer(
    fx: Fx,
    *,
    application: Application,
    fields: dict[str, Any],
    lookup: identity.Lookup | None = None,
) -> tuple[Offer, dict[str, Any]]:
    """POST /api/v1/offers after validation: store the offer and start the conversation.

    `fields` are the validated body fields except the application. Returns the offer and
    extra answer fields (`invite_code`, `invite_url` when the candidate must be invited).
    Runs inside the API's transaction; `lookup` is what the platforms answered before it
    (bot/services/identity.py), so no platform is called while rows are locked."""
    await application.fetch_related("candidate", "requisition")
    candidate, requisition = application.candidate, application.requisition
    values = dict(fields)
    fixed_deadline = values.get("expires_at") is not None
    if not fixed_deadline:  # re-based when the message is actually delivered
        values["expires_at"] = fx.now() + fx.settings.timers.offer_expires_after
    offer = await Offer.create(
        application=application,
        candidate=candidate,
        requisition=requisition,
        stage="new",
        data={"expires_defaulted": not fixed_deadline},
        **values,
    )
    await fx.record(
        candidate.id,
        "offer_created",
        {
            "salary_monthly": str(offer.salary_monthly),
            "currency": offer.currency,
            "start_date": offer.start_date.isoformat(),
            "expires_at": offer.expires_at.isoformat() if fixed_deadline else None,
        },
        offer_id=offer.id,
        application_id=application.id,
    )
    await _advise_hr(fx, offer, candidate, requisition)  # queued before the candidate's
    if fixed_deadline:
        await _arm(fx, offer, EXPIRE, offer.expires_at)
    target = await identity.reach(fx, candidate, offer.channel, lookup)
    if target is None:
        code, url = await identity.new_invite(fx, offer, lookup)
        await _move(fx, offer, "offer_invited", invite_url=url)
        extra = {"invite_code": code, "invite_url": url}
        if url is None:  # no link to give: HR sends the code with this text
            extra["invite_text"] = fx.t("offer.invite_text", code=code)
        return offer, extra
    await send_offer(fx, offer, candidate, *target)
    return offer, {}


async def withdraw_offer(fx: Fx, offer: Offer) -> Offer:
    """POST /api/v1/offers/{id}/withdraw: close the offer; tell the candidate if they saw it."""
    if not await _move(fx, offer, "offer_withdrawn"):
        return offer
    await _stop_waiting(fx, offer)
    candidate = await _live_candidate(offer)
    if candidate is not None and offer.delivered_at is not None:
        facts = await alerts.offer_facts(fx, offer)
        text = fx.t("offer.withdrawn", name=candidate.name, job=facts["job"])
        await _to_offer_address(fx, offer, candidate, Outgoing(text=text), "withdrawn")
    return offer


# -- creating: advisory and the offer message ---------------------------------------------


def expectation_mismatches(
    fx: Fx, expectations: dict[str, Any], requisition: Requisition, offer: Offer
) -> list[str]:
    """Each way the candidate's stated expectations differ from the job or the offer."""
    found = []
    salary_min = _number(expectations.get("salary_min"))
    if salary_min is not None and Decimal(str(offer.salary_monthly)) < salary_min:
        found.append(
            fx.t(
                "alerts.mismatch.salary",
                expected=alerts.money(fx, salary_min, offer.currency),
                offered=alerts.money(fx, offer.salary_monthly, offer.currency),
            )
        )
    remote = _number(expectations.get("remote_days_per_week"))
    allowed = requisition.remote_days_per_week
    if remote and (allowed is None or allowed < remote):
        offered = (
            fx.t("alerts.not_stated")
            if allowed is None
            else fx.t("alerts.mismatch.remote_days", days=allowed)
        )
        found.append(fx.t("alerts.mismatch.remote", expected=f"{remote:g}", offered=offered))
    wanted = str(expectations.get("location") or "").strip()
    place = (requisition.location or "").strip()
    if wanted and not _same_place(wanted, place):
        found.append(
            fx.t(
                "alerts.mismatch.location",
                expected=wanted,
                offered=place or fx.t("alerts.not_stated"),
            )
        )
    return found


async def _advise_hr(fx: Fx, offer: Offer, candidate: Candidate, requisition: Requisition) -> None:
    expectations = candidate.expectations if isinstance(candidate.expectations, dict) else {}
    found = expectation_mismatches(fx, expectations, requisition, offer)
    if found:
        details = {"mismatches": found, "notes": str(expectations.get("notes") or "")}
        await alerts.raise_alert(fx, "advisory", candidate=candidate, offer=offer, details=details)


async def send_offer(
    fx: Fx, offer: Offer, candidate: Candidate, platform: str, address: str
) -> None:
    """Queue the offer message to where the candidate is (also right after binding)."""
    if offer.data.get("expires_defaulted"):
        # The deadline shown counts from when the message can go out (quiet hours).
        send_at = next_allowed(fx.now(), fx.settings.company)
        offer.expires_at = send_at + fx.settings.timers.offer_expires_after
    offer.data = {**offer.data, "address": [platform, address]}
    await offer.save(update_fields=["expires_at", "data", "updated_at"])
    await fx.to_candidate(
        candidate,
        await offer_message(fx, offer, candidate),
        f"offer:{offer.id}:message:{platform}:{address}",
        offer=offer,
        platform=platform,
        address=address,
    )
    await _move(fx, offer, "offer_queued", platform=platform)


async def offer_message(fx: Fx, offer: Offer, candidate: Candidate) -> Outgoing:
    facts = await alerts.offer_facts(fx, offer)
    company = fx.settings.company.name
    lines = [
        fx.t("offer.greeting", name=candidate.name, company=company, job=facts["job"]),
        fx.t("offer.line_salary", salary=facts["salary"]),
        fx.t("offer.line_start", start_date=facts["start_date"]),
        fx.t("offer.line_deadline", deadline=facts["deadline"]),
    ]
    if offer.contract_url:
        lines.append(fx.t("offer.line_contract", url=offer.contract_url))
    lines.append(fx.t("offer.choices"))
    return Outgoing(
        kind="card",
        title=fx.t("offer.title", company=company),
        text="\n".join(lines),
        actions=offer_actions(fx, offer),
    )


def reminder_key(offer: Offer) -> str:
    """The outbox key of the timer's reminder, and the prefix of every HR /remind."""
    return f"offer:{offer.id}:reminder"


async def reminder_message(fx: Fx, offer: Offer, candidate: Candidate) -> Outgoing:
    """The reminder (also what HR's /remind may send)."""
    facts = await alerts.offer_facts(fx, offer)
    text = fx.t("offer.reminder", name=candidate.name, job=facts["job"], deadline=facts["deadline"])
    return Outgoing(
        kind="card",
        title=fx.t("offer.reminder_title"),
        text=text,
        actions=offer_actions(fx, offer),
    )


def offer_actions(fx: Fx, offer: Offer) -> tuple[Action, ...]:
    value = {"offer_id": offer.id}
    return (
        Action(
            key="accept",
            label=fx.t("offer.button_accept"),
            command="1",
            value=value,
            style="primary",
        ),
        Action(
            key="decline",
            label=fx.t("offer.button_decline"),
            command="2",
            value=value,
            style="danger",
            confirm=fx.t("offer.decline_confirm"),
        ),
        Action(key="question", label=fx.t("offer.button_question"), command="3", value=value),
    )


# -- delivery news ----------------------------------------------------------------------


def _is_offer_message(row: Outbox) -> bool:
    return row.offer_id is not None and row.idempotency_key.startswith(
        f"offer:{row.offer_id}:message:"
    )


@router.delivered
async def offer_delivered(fx: Fx, row: Outbox) -> None:
    """The offer message reached the candidate: now the clock starts."""
    if not _is_offer_message(row):
        return
    offer = await locked_offer(row.offer_id)
    if offer is None or offer.delivered_at is not None:
        return
    offer.delivered_at = fx.now()
    if offer.data.get("expires_defaulted"):
        offer.expires_at = offer.delivered_at + fx.settings.timers.offer_expires_after
    await offer.save(update_fields=["delivered_at", "expires_at", "updated_at"])
    if offer.status != "sent":
        return
    await _move(fx, offer, "offer_delivered", platform=row.platform)
    timers = fx.settings.timers
    await _arm(fx, offer, EXPIRE, offer.expires_at)
    if offer.last_reply_at is None:
        await _arm(fx, offer, REMIND, offer.delivered_at + timers.offer_unconfirmed_after)
        await _arm(fx, offer, ESCALATE, offer.delivered_at + timers.offer_escalate_after)


@router.undeliverable
async def message_undeliverable(fx: Fx, row: Outbox, reason: str) -> None:
    """A candidate message could not go out: HR gets its text to pass on by hand."""
    message = Outgoing.model_validate(row.payload)
    if row.candidate_id is None or message.replaces:  # a card refresh is no news
        return
    candidate = await Candidate.get_or_none(id=row.candidate_id, erased_at__isnull=True)
    if candidate is None:
        return
    offer = await locked_offer(row.offer_id)
    await fx.record(
        candidate.id,
        "message_undeliverable",
        {"outbox_id": row.id, "status": row.status, "reason": reason},
        offer_id=row.offer_id,
    )
    details = {"delivery_error": _delivery_error(fx, reason), "messages": [message.text]}
    await alerts.raise_alert(
        fx, "undeliverable", candidate=candidate, offer=offer, details=details, merge=True
    )
    is_offer = offer is not None and _is_offer_message(row)
    if is_offer and await _move(fx, offer, "offer_undeliverable", reason=reason):
        await _arm(fx, offer, EXPIRE, offer.expires_at)


def _delivery_error(fx: Fx, reason: str) -> str:
    try:
        return fx.t(f"alerts.delivery_errors.{reason}")
    except KeyError:
        return reason


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
        turn.data["offer"] = await _offer_in_question(turn.candidate, offer_id)
    return turn.data["offer"] is not None


def status(*statuses: str) -> Filter:
    return Filter(f"status={'|'.join(statuses)}", lambda t: t.data["offer"].status in statuses)


def stage(*stages: str) -> Filter:
    return Filter(f"stage={'|'.join(stages)}", lambda t: t.data["offer"].stage in stages)


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
    await _note_reply(turn.fx, offer, reply)
    await _accept(turn, offer, reply)


@router.turn(*REPLY, status("sent"), intent("decline"), name="offer_decline")
async def on_decline(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    await _close_by_candidate(turn, offer, reply, "offer_declined", "decline")


@router.turn(*REPLY, status("sent"), intent("hesitate", "question"), name="offer_doubt")
async def on_doubt(turn: Turn) -> None:
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    await _move(turn.fx, offer, "offer_hesitating")
    # HR takes it from here: no reminder, no "silent" alert while they talk.
    await turn.fx.cancel_timers(offer_id=offer.id, kinds=[REMIND, ESCALATE])
    await _doubt(turn, offer, reply)


@router.turn(*REPLY, status("sent"), name="offer_other")
async def on_other(turn: Turn) -> None:
    """Anything else: added to HR's open question while they talk, else a 1/2/3 nudge."""
    offer, reply = turn.data["offer"], await _reply(turn)
    await _note_reply(turn.fx, offer, reply)
    if offer.stage == "hesitating" and await alerts.open_alert_for(offer, "question"):
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


async def _offer_in_question(candidate: Candidate, offer_id: Any) -> Offer | None:
    """The offer a click names (it must be this candidate's), else the one in play —
    read row-locked, as `locked_offer` does, so replies, timers and delivery news for
    one offer take turns."""
    mine = Offer.filter(candidate_id=candidate.id).select_for_update()
    if offer_id is not None:
        try:
            return await mine.filter(id=int(offer_id)).first()
        except (TypeError, ValueError):
            return None
    offers = await mine.order_by("-id").limit(10)
    for offer in offers:
        if offer.status in ("sent", "accepted") or offer.stage in REASON_STAGES:
            return offer
    if offers and offers[0].status in CLOSED_STATUSES:
        return offers[0]
    return None


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
    result = await turn.fx.rt.intents.classify(turn.text)
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
    if await alerts.open_alert_for(offer, kind):
        await _tell_hr(turn, offer, reply, kind)


async def _accept(turn: Turn, offer: Offer, reply: Reply) -> None:
    fx, candidate = turn.fx, turn.candidate
    assert candidate is not None
    if not await _move(fx, offer, "offer_accepted", via=_via(reply)):
        return
    await _stop_waiting(fx, offer)
    await _replace_card(turn, offer, "accept")
    await _say(turn, offer, "offer.accepted", company=fx.settings.company.name)
    facts = await alerts.offer_facts(fx, offer)
    notice = fx.t(
        "alerts.accepted_notice",
        name=candidate.name,
        phone=alerts.phone_suffix(fx, candidate),
        job=facts["job"],
        start_date=facts["start_date"],
    )
    doubts = await alerts.open_alert_for(offer, "question")
    if doubts is not None:  # HR was talking them round: that alert can be closed now
        notice += "\n" + fx.t("alerts.accepted_open_alert", id=doubts.id)
    await fx.to_hr(
        Outgoing(text=notice),
        f"offer:{offer.id}:accepted",
        candidate_id=candidate.id,
        offer_id=offer.id,
    )
    await _start_documents(fx, offer)


async def _close_by_candidate(
    turn: Turn, offer: Offer, reply: Reply, event: str, alert_kind: str
) -> None:
    """Decline (or renege): closed at once, HR alerted, the reason asked for next."""
    fx = turn.fx
    if not await _move(fx, offer, event, via=_via(reply)):
        return
    await _stop_waiting(fx, offer)
    await _replace_card(turn, offer, "decline")
    await _tell_hr(turn, offer, reply, alert_kind, merge=False)
    ask = "offer.ask_decline_reason" if alert_kind == "decline" else "offer.ask_renege_reason"
    await _send(turn, offer, _reason_question(fx, offer, ask), "reason")


async def _doubt(turn: Turn, offer: Offer, reply: Reply) -> None:
    await _tell_hr(turn, offer, reply, reply.intent)
    await _replace_card(turn, offer, "question")
    if reply.click == "question":
        await _say(turn, offer, "offer.ask_question")
    elif reply.intent == "hesitate":
        await _say(turn, offer, "offer.ack_hesitate")
    else:
        await _say(turn, offer, "offer.ack_question")


async def _record_reason(turn: Turn, offer: Offer, click: str | None) -> None:
    fx = turn.fx
    if click is not None:
        category, text = click[len(REASON_CLICK) :], None
    else:
        category, text = classify_reason(turn.text), turn.text
        if MENU_ONLY.match(normalise(text)):
            text = None  # "3" is a menu choice, not words worth quoting
    if not await _move(fx, offer, "reason_recorded", category=category, text=text):
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


def _reason_question(fx: Fx, offer: Offer, ask_key: str) -> Outgoing:
    labels = [fx.t(f"offer.reasons.{category}") for category in REASON_CATEGORIES]
    menu = "\n".join(f"{number} {label}" for number, label in enumerate(labels, 1))
    actions = tuple(
        Action(
            key=f"{REASON_CLICK}{category}",
            label=label,
            command=str(number),
            value={"offer_id": offer.id},
        )
        for number, (category, label) in enumerate(zip(REASON_CATEGORIES, labels, strict=True), 1)
    )
    return Outgoing(kind="card", text=f"{fx.t(ask_key)}\n{menu}", actions=actions)


# -- reply helpers --------------------------------------------------------------------------


async def _note_reply(fx: Fx, offer: Offer, reply: Reply) -> None:
    """Every reply: remembered, on the timeline, and the pending reminder is off."""
    offer.last_reply_at = fx.now()
    await offer.save(update_fields=["last_reply_at", "updated_at"])
    await fx.cancel_timers(offer_id=offer.id, kinds=[REMIND])
    await Outbox.filter(  # the timer's reminder and any HR /remind still held
        offer_id=offer.id, status="pending", idempotency_key__startswith=reminder_key(offer)
    ).update(status="cancelled", last_error="the candidate replied")
    await fx.record(offer.candidate_id, "candidate_reply", _reply_data(reply), offer_id=offer.id)


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
    )


async def _replace_card(turn: Turn, offer: Offer, outcome: str) -> None:
    """After a click, platforms that need it (WeCom: a one-shot response code) get the
    card replaced by the outcome, so its buttons cannot be pressed again."""
    code = turn.inbound.extra.get("response_code")
    if turn.inbound.kind != "action" or not code:
        return
    text = turn.fx.t(f"offer.card_done.{outcome}")
    await _send(turn, offer, Outgoing(kind="card", text=text, replaces=str(code)), "card")


async def _start_documents(fx: Fx, offer: Offer) -> None:
    await documents.start_documents(fx, offer)


# -- timers -------------------------------------------------------------------------------


async def _arm(fx: Fx, offer: Offer, kind: str, due: Any) -> None:
    name = kind.removeprefix("offer_")
    await fx.schedule(
        f"offer:{offer.id}:{name}", kind, due, offer_id=offer.id, candidate_id=offer.candidate_id
    )


@router.timer(REMIND)
async def remind(fx: Fx, timer: Timer) -> None:
    offer = await locked_offer(timer.offer_id)
    if offer is None or offer.status != "sent" or offer.last_reply_at is not None:
        return
    candidate = await _live_candidate(offer)
    if candidate is None:
        return
    message = await reminder_message(fx, offer, candidate)
    if await _to_offer_address(fx, offer, candidate, message, "reminder") is None:
        return
    await Offer.filter(id=offer.id).update(reminders_sent=F("reminders_sent") + 1)
    await fx.record(candidate.id, "reminder_sent", {}, offer_id=offer.id, actor="timer")


@router.timer(ESCALATE)
async def escalate(fx: Fx, timer: Timer) -> None:
    offer = await locked_offer(timer.offer_id)
    if offer is None or offer.status != "sent" or offer.stage == "hesitating":
        return
    candidate = await _live_candidate(offer)
    if candidate is None:
        return
    waited = fx.now() - (offer.delivered_at or offer.created_at)
    last = (
        await TimelineEvent.filter(offer_id=offer.id, kind="candidate_reply")
        .order_by("-id")
        .first()
    )
    details = {
        "waited": _duration(fx, waited.total_seconds()),
        "reminders": offer.reminders_sent,
        "last_message": (last.data.get("text") or "") if last else "",
    }
    await alerts.raise_alert(
        fx, "silent", candidate=candidate, offer=offer, details=details, merge=True
    )
    await fx.record(candidate.id, "silent_escalated", details, offer_id=offer.id, actor="timer")


@router.timer(EXPIRE)
async def expire(fx: Fx, timer: Timer) -> None:
    offer = await locked_offer(timer.offer_id)
    if offer is None or not await _move(fx, offer, "offer_expired", actor="timer"):
        return
    await _stop_waiting(fx, offer)
    candidate = await _live_candidate(offer)
    if candidate is None:
        return
    if offer.data.get("address"):  # the candidate had the offer: close it kindly
        facts = await alerts.offer_facts(fx, offer)
        text = fx.t("offer.expired", name=candidate.name, job=facts["job"])
        await _to_offer_address(fx, offer, candidate, Outgoing(text=text), "expired")
    await alerts.raise_alert(fx, "expiry", candidate=candidate, offer=offer)


# -- small pieces -------------------------------------------------------------------------


async def _move(fx: Fx, offer: Offer, event: str, *, actor: str | None = None, **data: Any) -> bool:
    """Apply the transition `event` if the offer is still where the table allows it."""
    edges = TRANSITIONS[event]
    target = edges.get(f"{offer.status}/{offer.stage}") or edges.get(f"{offer.status}/*")
    if target is None:
        return False
    status, stage = target
    before, after = f"{offer.status}/{offer.stage}", f"{status}/{stage}"
    changes: dict[str, Any] = {"status": status, "stage": stage}
    for stamp in STAMPS.get(event, ()):
        changes[stamp] = fx.now()
    updated = await Offer.filter(id=offer.id, status=offer.status, stage=offer.stage).update(
        **changes
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
    return True


async def locked_offer(offer_id: int | None) -> Offer | None:
    """The offer, row-locked until the transaction ends: replies, timers and delivery news
    for one offer take turns (PostgreSQL; SQLite serialises writers anyway)."""
    if offer_id is None:
        return None
    return await Offer.filter(id=offer_id).select_for_update().first()


async def _stop_waiting(fx: Fx, offer: Offer) -> None:
    """A decision was made: no timer of this offer and no held candidate message matter."""
    await fx.cancel_timers(offer_id=offer.id)
    await Outbox.filter(offer_id=offer.id, recipient_kind="user", status="pending").update(
        status="cancelled", last_error=f"offer {offer.status}"
    )


async def _live_candidate(offer: Offer) -> Candidate | None:
    return await Candidate.get_or_none(id=offer.candidate_id, erased_at__isnull=True)


async def _to_offer_address(
    fx: Fx, offer: Offer, candidate: Candidate, message: Outgoing, purpose: str
) -> Outbox | None:
    """Where the offer went (the platform the candidate was bound on), else any address."""
    key = f"offer:{offer.id}:{purpose}"
    target = offer.data.get("address")
    if target:
        platform, address = target
        return await fx.to_candidate(
            candidate, message, key, offer=offer, platform=platform, address=address
        )
    return await fx.to_candidate(candidate, message, key, offer=offer)


def _duration(fx: Fx, seconds: float) -> str:
    if seconds >= 3600:
        return fx.t("alerts.waited_hours", n=int(seconds // 3600))
    return fx.t("alerts.waited_minutes", n=max(1, int(seconds // 60)))


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _same_place(wanted: str, place: str) -> bool:
    """One place names the other ("上海" / "上海市浦东新区"), ignoring case and width."""
    a, b = (re.sub(r"\s+", "", normalise(x)) for x in (wanted, place))
    return bool(a and b) and (a in b or b in a)
