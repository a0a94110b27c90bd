"""Sending the offer (docs/offer-flow.md): creating and withdrawing it, the pre-offer
advisory, the offer and reminder messages, delivery news and the offer's timers.

Timers (keys `offer:<id>:remind|escalate|expire`) start when the offer message is
delivered: one reminder after `offer_unconfirmed_after` if there is no reply yet, a
"silent" HR alert after `offer_escalate_after` unless HR already has the candidate's
doubts, expiry at `expires_at`. A default `expires_at` counts from when the message may go
out (quiet hours) and is fixed then: the advisory, the card and the timer show the same
moment; an explicit one is a fixed date (armed at creation). Any reply cancels the
reminder (and a reminder held by quiet hours); a decision cancels everything still waiting.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import F

from bot.channels.base import Action, Outgoing
from bot.flows import alerts
from bot.flows.offer_state import (
    ESCALATE,
    EXPIRE,
    REMIND,
    arm,
    duration_text,
    live_candidate,
    locked_offer,
    move,
    number,
    same_place,
    stop_waiting,
    to_offer_address,
)
from bot.flows.router import Router
from bot.services import identity, reach
from bot.services.fx import Fx
from bot.services.quiet import next_allowed
from bot.storage.models import (
    Application,
    Candidate,
    Offer,
    Outbox,
    Requisition,
    TimelineEvent,
    Timer,
)
from bot.storage.offer_data import OfferData, offer_data, set_offer_data

# Delivery news and the offer's timers; composed in bot/flows/routes.py.
router = Router("offer_send")


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
    if not fixed_deadline:  # one deadline: the advisory, the card and the timer all use it
        values["expires_at"] = default_deadline(fx)
    offer = await Offer.create(
        application=application,
        candidate=candidate,
        requisition=requisition,
        stage="new",
        data=OfferData(expires_defaulted=not fixed_deadline).stored(),
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
        await arm(fx, offer, EXPIRE, offer.expires_at)
    target = await identity.reach(fx, candidate, offer.channel, lookup)
    if target is None:
        code, url = await identity.new_invite(fx, offer, lookup)
        # The timeline keeps the stored link only: a candidate page link's token is secret.
        await move(fx, offer, "offer_invited", invite_url=offer.invite_url)
        extra = {"invite_code": code, "invite_url": url}
        # And at once by SMS / e-mail with the candidate page's link, where configured.
        await reach.invite(fx, candidate, offer, await alerts.offer_facts(fx, offer))
        if url is None:  # no link to give: HR sends the code with this text
            extra["invite_text"] = fx.t("offer.invite_text", code=code)
        return offer, extra
    await send_offer(fx, offer, candidate, *target)
    return offer, {}


async def withdraw_offer(fx: Fx, offer: Offer) -> Offer:
    """POST /api/v1/offers/{id}/withdraw: close the offer; tell the candidate if they saw it."""
    if not await move(fx, offer, "offer_withdrawn"):
        return offer
    await stop_waiting(fx, offer)
    candidate = await live_candidate(offer)
    if candidate is not None and offer.delivered_at is not None:
        facts = await alerts.offer_facts(fx, offer)
        text = fx.t("offer.withdrawn", name=candidate.name, job=facts["job"])
        await to_offer_address(fx, offer, candidate, Outgoing(text=text), "withdrawn")
    return offer


# -- creating: advisory and the offer message ---------------------------------------------


def default_deadline(fx: Fx) -> datetime:
    """The reply deadline when the ATS gave none: counted from when the message can go out
    (quiet hours), fixed from then on (docs/offer-flow.md#the-reply-deadline)."""
    return next_allowed(fx.now(), fx.settings.company) + fx.settings.timers.offer_expires_after


def expectation_mismatches(
    fx: Fx, expectations: dict[str, Any], requisition: Requisition, offer: Offer
) -> list[str]:
    """Each way the candidate's stated expectations differ from the job or the offer."""
    found = []
    salary_min = number(expectations.get("salary_min"))
    if salary_min is not None and Decimal(str(offer.salary_monthly)) < salary_min:
        found.append(
            fx.t(
                "alerts.mismatch.salary",
                expected=alerts.money(fx, salary_min, offer.currency),
                offered=alerts.money(fx, offer.salary_monthly, offer.currency),
            )
        )
    remote = number(expectations.get("remote_days_per_week"))
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
    if wanted and not same_place(wanted, place):
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
    if offer_data(offer).expires_defaulted and offer.stage == "awaiting_binding":
        # Sent only now that the candidate opened the invite: the clock starts now.
        offer.expires_at = default_deadline(fx)
    set_offer_data(offer, address=(platform, address))
    await offer.save(update_fields=["expires_at", "data", "updated_at"])
    await fx.to_candidate(
        candidate,
        await offer_message(fx, offer, candidate),
        f"offer:{offer.id}:message:{platform}:{address}",
        offer=offer,
        platform=platform,
        address=address,
    )
    await move(fx, offer, "offer_queued", platform=platform)


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
    # The deadline is not moved: the candidate's card already shows it.
    await offer.save(update_fields=["delivered_at", "updated_at"])
    if offer.status != "sent":
        return
    await move(fx, offer, "offer_delivered", platform=row.platform)
    timers = fx.settings.timers
    await arm(fx, offer, EXPIRE, offer.expires_at)
    if offer.last_reply_at is None:
        await arm(fx, offer, REMIND, offer.delivered_at + timers.offer_unconfirmed_after)
        await arm(fx, offer, ESCALATE, offer.delivered_at + timers.offer_escalate_after)


@router.undeliverable
async def message_undeliverable(fx: Fx, row: Outbox, reason: str) -> None:
    """A candidate message could not go out: a reminder tries SMS / e-mail instead; when
    no route is left, HR gets its text to pass on by hand (docs/sms-email.md)."""
    message = Outgoing.model_validate(row.payload)
    if row.candidate_id is None or message.replaces:  # a card refresh is no news
        return
    candidate = await Candidate.get_or_none(id=row.candidate_id, erased_at__isnull=True)
    if candidate is None:
        return
    offer = await locked_offer(row.offer_id)
    if row.platform in reach.ROUTES:
        if not await reach.every_route_failed(fx, row):
            return  # the other route may still get through (or did)
        reason = await reach.failure_summary(fx, row)
    elif offer is not None and (purpose := reach.purpose_of(row)) is not None:
        facts = await alerts.offer_facts(fx, offer)
        if await reach.instead_of_chat(fx, candidate, offer, purpose, row.idempotency_key, facts):
            await fx.record(
                candidate.id,
                "message_rerouted",
                {"outbox_id": row.id, "status": row.status, "reason": reason},
                offer_id=row.offer_id,
            )
            return
    await fx.record(
        candidate.id,
        "message_undeliverable",
        {"outbox_id": row.id, "status": row.status, "reason": reason},
        offer_id=row.offer_id,
    )
    text = reach.text_for_hr(fx, message) if row.platform in reach.ROUTES else message.text
    details = {"delivery_error": _delivery_error(fx, reason), "messages": [text]}
    await alerts.raise_alert(
        fx, "undeliverable", candidate=candidate, offer=offer, details=details, merge=True
    )
    is_offer = offer is not None and _is_offer_message(row)
    if is_offer and await move(fx, offer, "offer_undeliverable", reason=reason):
        await arm(fx, offer, EXPIRE, offer.expires_at)


def _delivery_error(fx: Fx, reason: str) -> str:
    try:
        return fx.t(f"alerts.delivery_errors.{reason}")
    except KeyError:
        return reason


# -- timers -------------------------------------------------------------------------------


@router.timer(REMIND)
async def remind(fx: Fx, timer: Timer) -> None:
    offer = await locked_offer(timer.offer_id)
    if offer is None or offer.status != "sent" or offer.last_reply_at is not None:
        return
    candidate = await live_candidate(offer)
    if candidate is None:
        return
    message = await reminder_message(fx, offer, candidate)
    via: dict[str, Any] = {}
    chat = await to_offer_address(fx, offer, candidate, message, "reminder")
    if chat is None or reach.page_only(chat):
        # No chat address (or only the page, which notifies nobody): by SMS / e-mail
        # instead or as well (docs/sms-email.md).
        facts = await alerts.offer_facts(fx, offer)
        rows = await reach.instead_of_chat(
            fx, candidate, offer, "reminder", reminder_key(offer), facts
        )
        if chat is None and not rows:
            return
        if rows:
            via = {"via": [r.platform for r in rows]}
    await Offer.filter(id=offer.id).update(reminders_sent=F("reminders_sent") + 1)
    await fx.record(candidate.id, "reminder_sent", via, offer_id=offer.id, actor="timer")


@router.timer(ESCALATE)
async def escalate(fx: Fx, timer: Timer) -> None:
    offer = await locked_offer(timer.offer_id)
    if offer is None or offer.status != "sent" or offer.stage == "hesitating":
        return
    candidate = await live_candidate(offer)
    if candidate is None:
        return
    waited = fx.now() - (offer.delivered_at or offer.created_at)
    last = (
        await TimelineEvent.filter(offer_id=offer.id, kind="candidate_reply")
        .order_by("-id")
        .first()
    )
    details = {
        "waited": duration_text(fx, waited.total_seconds()),
        "reminders": offer.reminders_sent,
        "last_message": (last.data.get("text") or "") if last else "",
    }
    if offer_data(offer).question_pending:  # pressed 我有问题, then wrote nothing
        details["last_message"] = fx.t("alerts.clicked", label=fx.t("offer.button_question"))
    await alerts.raise_alert(
        fx, "silent", candidate=candidate, offer=offer, details=details, merge=True
    )
    await fx.record(candidate.id, "silent_escalated", details, offer_id=offer.id, actor="timer")


@router.timer(EXPIRE)
async def expire(fx: Fx, timer: Timer) -> None:
    offer = await locked_offer(timer.offer_id)
    if offer is None or not await move(fx, offer, "offer_expired", actor="timer"):
        return
    await stop_waiting(fx, offer)
    candidate = await live_candidate(offer)
    if candidate is None:
        return
    if offer_data(offer).address:  # the candidate had the offer: close it kindly
        facts = await alerts.offer_facts(fx, offer)
        text = fx.t("offer.expired", name=candidate.name, job=facts["job"])
        await to_offer_address(fx, offer, candidate, Outgoing(text=text), "expired")
    await alerts.raise_alert(fx, "expiry", candidate=candidate, offer=offer)
