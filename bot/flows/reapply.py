"""Re-applicant alerts (see docs/reapply-stats.md).

A new application from someone whose earlier offer was lost (declined, reneged, expired)
— the same person by external id, phone, e-mail or platform id, possibly on another
candidate row — is marked `reapplication_of` and HR gets one alert with the history, the
requisition's live state and three questions built from that history.

Applications dated long ago (a CSV import of history) are marked but not alerted.

What the person writes while their newest application has no offer yet belongs to that
application, not to the old closed offer: it is on the timeline, a question or
hesitation reaches HR as an alert naming the new job, and the answer speaks of it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.channels.base import Outgoing
from bot.flows import alerts
from bot.flows.alerts import claim_resolve_actions
from bot.flows.filters import has_text, known_candidate, private
from bot.flows.router import Filter, Router, Turn
from bot.history import CandidateHistory, load_history, offer_ended_at, offer_reason
from bot.history_text import (
    Style,
    application_lines,
    candidate_title,
    clip,
    label,
    note_lines,
    reason_label,
)
from bot.services.fx import Fx
from bot.services.lookup import same_person
from bot.storage.models import Application, Interview, Offer, Requisition
from bot.vocab import LOST_STATUSES, REASON_CATEGORIES

ALERT_ONLY_WITHIN = timedelta(days=30)
FILLED = ("accepted", "onboarded")
# Reasons that are doubts about the job itself: the second question goes back to them.
DOUBT_REASONS = ("info_mismatch", "role_fit", "team_culture", "overtime")
LOW_SCORE = 3
DOUBTS = ("question", "hesitate", "decline")  # what HR hears about; "decline" as hesitation

# A message about the new application; composed in bot/flows/routes.py after the offer's.
router = Router("reapply")


async def earlier_losses(application: Application, people_ids: list[int]) -> list[Offer]:
    """Lost offers of the same person from before this application, oldest first."""
    offers = (
        await Offer.filter(candidate_id__in=people_ids, status__in=LOST_STATUSES)
        .exclude(application_id=application.id)
        .prefetch_related("reasons", "requisition")
    )
    return sorted(
        (o for o in offers if offer_ended_at(o) <= application.applied_at),
        key=lambda o: offer_ended_at(o),
    )


async def requisition_state(requisition: Requisition, application_id: int) -> dict[str, Any]:
    """Open headcount, candidates at the final round (the highest round anyone of this
    requisition reached, no offer yet) and offers out, as HR needs them right now."""
    offers = await Offer.filter(requisition_id=requisition.id).values("application_id", "status")
    filled = sum(1 for o in offers if o["status"] in FILLED)
    with_offer = {o["application_id"] for o in offers}
    rounds = await Interview.filter(application__requisition_id=requisition.id).values(
        "application_id", "round"
    )
    top = max((r["round"] for r in rounds), default=0)
    at_final = {
        r["application_id"]
        for r in rounds
        if r["round"] == top and r["application_id"] not in with_offer | {application_id}
    }
    return {
        "headcount": requisition.headcount,
        "filled": filled,
        "open_headcount": max(0, requisition.headcount - filled),
        "final_round": len(at_final),
        "final_round_number": top,
        "offers_out": sum(1 for o in offers if o["status"] == "sent"),
        "urgency": requisition.urgency,
        "status": requisition.status,
    }


def suggested_questions(
    fx: Fx, h: CandidateHistory, last: Offer, application: Application, days: int
) -> list[str]:
    """Three questions: the earlier reason and whether it is resolved; open doubts about
    the role and the team; current career plans against this role."""
    t = fx.t
    category, text = offer_reason(last)
    what = t(f"reapply.lost.{last.status}")
    if not category and not text:
        first = t("reapply.q_reason_unknown", what=what)
    else:
        category = category if category in REASON_CATEGORIES else "other"
        reason = clip(text, 60) if text else reason_label(fx.catalog, category)
        first = t(f"reapply.q_reason.{category}", what=what, reason=reason)

    doubts = [offer_reason(o)[0] for o in h.offers if o.status in LOST_STATUSES]
    doubt = next((c for c in reversed(doubts) if c in DOUBT_REASONS), None)
    weak = [
        iv
        for app in h.applications
        if app.id != application.id
        for iv in app.interviews_sorted
        if iv.notes and iv.score is not None and iv.score <= LOW_SCORE
    ]
    if doubt:
        second = t(f"reapply.q_doubt.{doubt}")
    elif weak:
        iv = min(weak, key=lambda i: (i.score, -i.round))
        second = t("reapply.q_doubt_interview", round=iv.round, note=clip(iv.notes, 50))
    else:
        second = t("reapply.q_doubt_general")

    new_title = application.requisition.title
    old_title = last.requisition.title
    if old_title != new_title:
        third = t("reapply.q_plan_other_role", old=clip(old_title, 30), new=clip(new_title, 30))
    else:
        third = t("reapply.q_plan_same_role", days=days, new=clip(new_title, 30))
    return [first, second, third]


def alert_text(
    fx: Fx,
    alert_id: int,
    application: Application,
    h: CandidateHistory,
    last: Offer,
    days: int,
    state: dict[str, Any],
    questions: list[str],
) -> str:
    s = Style(fx.catalog, fx.settings.company.tz, private=False)  # the HR group
    urgency = label(fx.catalog, f"reapply.urgency.{state['urgency']}", state["urgency"])
    lines = [
        fx.t("reapply.title", id=alert_id),
        fx.t(
            "reapply.who",
            who=candidate_title(s, application.candidate),
            title=clip(application.requisition.title, 40),
            date=s.day(application.applied_at),
        ),
        fx.t(
            "reapply.since",
            days=days,
            date=s.day(offer_ended_at(last)),
            what=fx.t(f"reapply.lost.{last.status}"),
        ),
        "",
        fx.t("reapply.history"),
    ]
    for app in h.applications:
        if app.id != application.id:
            lines.extend(application_lines(s, app))
    notes = note_lines(s, h.notes)
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        fx.t(
            "reapply.requisition",
            **{**state, "urgency": urgency},
        ),
        "",
        fx.t("reapply.questions"),
    ]
    lines += [f"{n}. {q}" for n, q in enumerate(questions, 1)]
    lines.append(fx.t("alerts.footer", id=alert_id))
    return "\n".join(lines)


async def application_created(fx: Fx, application: Application) -> None:
    """Called by the API (and CSV import) inside its transaction for a new application."""
    await application.fetch_related("candidate", "requisition")
    people = await same_person(application.candidate)
    if not people:
        return
    losses = await earlier_losses(application, [c.id for c in people])
    if not losses:
        return
    last = losses[-1]
    application.reapplication_of = last.application_id
    await application.save(update_fields=["reapplication_of"])
    days = max(0, (application.applied_at - offer_ended_at(last)).days)
    await fx.record(
        application.candidate.id,
        "reapplied",
        {"earlier_offer_id": last.id, "days_since": days},
        application_id=application.id,
    )
    if application.applied_at < fx.now() - ALERT_ONLY_WITHIN:
        return
    await fx.write_records()  # the timeline read next includes what was just recorded
    h = await load_history(people)
    state = await requisition_state(application.requisition, application.id)
    questions = suggested_questions(fx, h, last, application, days)
    category, _ = offer_reason(last)
    alert, _ = await fx.open_alert(
        "reapply",
        candidate_id=application.candidate.id,
        offer_id=None,
        data={
            "application_id": application.id,
            "requisition_id": application.requisition.id,
            "earlier_offer_ids": [o.id for o in losses],
            "last_outcome": last.status,
            "reason_category": category,
            "days_since": days,
            "requisition_state": state,
            "questions": questions,
        },
    )
    text = alert_text(fx, alert.id, application, h, last, days, state, questions)
    await fx.to_hr(
        Outgoing(
            kind="card",
            text=text,  # its first line is the heading: no title beside it
            actions=claim_resolve_actions(fx, alert.id),
        ),
        f"alert:{alert.id}",
        candidate_id=application.candidate.id,
        alert_id=alert.id,
    )


# -- messages about the new application ------------------------------------------------------


async def newer_application(offer: Offer) -> Application | None:
    """The person's application made after this offer's, still without an offer."""
    newest = (
        await Application.filter(candidate_id=offer.candidate_id, id__gt=offer.application_id)
        .order_by("-id")
        .prefetch_related("requisition")
        .first()
    )
    if newest is None or await Offer.filter(application_id=newest.id).exists():
        return None
    return newest


async def _about_new_application(turn: Turn) -> bool:
    assert turn.candidate is not None
    last = await Offer.filter(candidate_id=turn.candidate.id).order_by("-id").first()
    turn.data["application"] = await newer_application(last) if last else None
    return turn.data["application"] is not None


@router.turn(
    known_candidate,
    private,
    has_text,
    Filter("new_application", _about_new_application),
    name="application_message",
)
async def on_message(turn: Turn) -> None:
    fx, candidate, application = turn.fx, turn.candidate, turn.data["application"]
    assert candidate is not None
    reading = turn.reading or await fx.rt.intents.classify(turn.text)
    job = application.requisition.title
    await fx.record(
        candidate.id,
        "candidate_reply",
        {"intent": reading.intent, "concerns": list(reading.concerns), "text": turn.text},
        application_id=application.id,
    )
    if reading.intent not in DOUBTS:
        await turn.reply(Outgoing(text=fx.t("reapply.message_noted", job=job)), "application")
        return
    kind = "question" if reading.intent == "question" else "hesitate"
    await alerts.raise_alert(
        fx,
        kind,
        candidate=candidate,
        reply=turn.text,
        concerns=tuple(reading.concerns),
        details={"job": job, "application_id": application.id},
        merge=True,  # more words about this application update the same alert
    )
    await turn.reply(Outgoing(text=fx.t("reapply.message_forwarded", job=job)), "application")
