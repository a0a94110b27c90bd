"""Onboarding documents (see docs/documents.md): collecting the checklist in chat after acceptance.

The conversation, for a candidate whose offer is accepted (or onboarded) and whose
collection has started (`DocumentChecklist` row; `asking` = the item the next file is for):

| candidate sends                 | the bot                                                   |
| ------------------------------- | --------------------------------------------------------- |
| image / file                    | checks it and stores it for `asking` → "身份证正面 ✅ 3/8" |
|                                 | + the next item, or the finish (HR informed + guide)      |
| same bytes again                | says it already has them; nothing stored                  |
| a file that fails a check       | says what was wrong and what to send instead              |
| `跳过` / `skip`                  | puts `asking` off, asks for the next item                 |
| `进度` / `progress`              | the numbered list with ✅ / ⏳ / ⏭                        |
| an item's name or number        | `asking` = that item (a done item is then replaced)       |
| a file after all are done       | asks which item it replaces (unless one was named)        |
| anything else                   | not ours: the offer flow sees it (e.g. a renege)          |

Timers per offer (keys `offer:<id>:docs_remind` …), relative to the start of the start
date in the company time zone: `docs_remind` (candidate, missing items), `docs_hr_alert`
(HR alert, missing items), `onboard` (offer → onboarded; HR told what is still missing).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from typing import Any

from bot.channels.base import Outgoing
from bot.documents.checklist import Progress, keys_for, load_progress, start_checklist
from bot.documents.intake import Intake, receive
from bot.documents.words import Said, understand
from bot.flows.alerts import claim_resolve_actions, offer_facts
from bot.flows.documents_text import (
    buttons,
    intro_message,
    item_keys,
    item_name,
    item_names,
    item_status,
    next_line,
    numbered,
    progress_text,
    start_date_text,
    who,
)
from bot.flows.filters import action, known_candidate, private
from bot.flows.filters import kind as inbound_kind
from bot.flows.offer_state import move, offer_with_checklist
from bot.flows.router import Filter, Router, SkipHandler, Turn
from bot.services import reach
from bot.services.fx import Fx
from bot.storage.models import (
    Candidate,
    DocumentChecklist,
    Offer,
    Requisition,
    Timer,
)

log = logging.getLogger(__name__)

# Offers whose candidate may still send documents (missing items can follow after day one).
COLLECTING_STATUSES = ("accepted", "onboarded")
REMIND, HR_ALERT, ONBOARD = "docs_remind", "docs_hr_alert", "onboard"
ALERT_KIND = "documents_missing"
# Buttons on our cards (each has a typed twin: the skip / progress words).
ACTIONS = {"docs_skip": Said("skip"), "docs_progress": Said("progress")}


# -- entry point for the offer flow ------------------------------------------------------


async def start_documents(fx: Fx, offer: Offer, candidate: Candidate | None = None) -> None:
    """On acceptance: snapshot the checklist, ask for the first item, arm the timers.

    Runs inside the caller's transaction; a second call for the same offer does nothing."""
    requisition = await fx.requisition(offer.requisition_id)
    progress = await start_checklist(offer, keys_for(requisition, fx.settings))
    if progress is None:
        return
    checklist, first = progress.checklist, progress.next_to_ask()
    assert checklist is not None
    await fx.record(
        offer.candidate_id, "documents_started", {"items": checklist.items}, offer_id=offer.id
    )
    await _arm_timers(fx, offer)
    candidate = candidate or await Candidate.get(id=offer.candidate_id)
    if first is None:  # an empty checklist: nothing to collect
        await _finish(fx, offer, candidate, checklist, progress)
    else:
        await fx.to_candidate(
            candidate,
            intro_message(fx, offer, progress, first),
            f"docs:{offer.id}:start",
            offer=offer,
            later=True,  # with the turn's other messages (docs/performance.md)
        )


def start_of_day(fx: Fx, offer: Offer) -> datetime:
    """Midnight of the start date in the company time zone, as UTC."""
    local = datetime.combine(offer.start_date, time(0), tzinfo=fx.settings.company.tz)
    return local.astimezone(UTC)


async def _arm_timers(fx: Fx, offer: Offer) -> None:
    start, now, timers = start_of_day(fx, offer), fx.now(), fx.settings.timers
    # A reminder or alert whose moment has passed already (a late acceptance) would only
    # repeat the introduction: skip it. The start date itself always counts.
    due = (
        (REMIND, start - timers.documents_due_before_start),
        (HR_ALERT, start - timers.documents_hr_alert_before_start),
        (ONBOARD, start),
    )
    key, who = f"offer:{offer.id}", (offer.id, offer.candidate_id, None)
    await fx.schedule_all(
        [(f"{key}:{kind}", kind, at, *who) for kind, at in due if at > now or kind == ONBOARD]
    )


# -- the conversation --------------------------------------------------------------------


async def _has_collecting_offer(turn: Turn) -> bool:
    """Loads the offer whose documents are being collected, for the handlers below."""
    assert turn.candidate is not None  # `known_candidate` comes first
    if "documents_offer" not in turn.data:
        turn.data["documents_offer"] = await _collecting_offer(turn)
    return turn.data["documents_offer"] is not None


collecting = Filter("collecting_documents", _has_collecting_offer)
router = Router("documents")


@router.turn(
    known_candidate, private, inbound_kind("image", "file"), collecting, name="documents_files"
)
async def on_files(turn: Turn) -> None:
    offer = turn.data["documents_offer"]
    await _on_files(turn, offer, await load_progress(offer, turn.fx.settings))


@router.turn(
    known_candidate,
    private,
    inbound_kind("text") | action(*ACTIONS),
    collecting,
    name="documents_words",
)
async def on_words(turn: Turn) -> None:
    """Skip, progress or an item's name; anything else is not ours (the offer flow's)."""
    offer = turn.data["documents_offer"]
    progress = await load_progress(offer, turn.fx.settings)
    said = _said(turn, progress)
    if said is None:
        raise SkipHandler
    if said.kind == "progress":
        await _answer(turn, offer, progress_text(turn.fx, progress), "progress")
    elif said.kind == "skip":
        await _on_skip(turn, offer, progress)
    else:
        await _on_naming(turn, offer, progress, said.items)


async def _collecting_offer(turn: Turn) -> Offer | None:
    return await offer_with_checklist(turn, COLLECTING_STATUSES)


def _said(turn: Turn, progress: Progress) -> Said | None:
    inbound = turn.inbound
    if inbound.kind == "action":
        return ACTIONS.get(inbound.action.get("action", ""))
    keys = [s.item.key for s in progress.items]
    names = {s.item.key: [s.item.name_zh, s.item.name_en] for s in progress.items}
    return understand(turn.text, keys, names)


async def _answer(turn: Turn, offer: Offer, text: str, suffix: str) -> None:
    """Answer on the platform the candidate wrote from (quiet hours apply: docs/offer-flow.md)."""
    assert turn.candidate is not None
    key = f"docs:{turn.inbound.platform}:{turn.inbound.event_id}:{suffix}"
    await turn.fx.to_candidate(
        turn.candidate,
        Outgoing(text=text),
        key,
        offer=offer,
        platform=turn.inbound.platform,
        address=turn.reply_address(),
    )


async def _on_files(turn: Turn, offer: Offer, progress: Progress) -> None:
    fx, inbound = turn.fx, turn.inbound
    checklist = progress.checklist
    assert checklist is not None
    was_complete = progress.complete
    target = checklist.asking if progress.state(checklist.asking or "") else None
    lines: list[str] = []
    asked_next = False
    if not inbound.media:
        lines.append(fx.t("documents.download_failed"))
    for index, _media in enumerate(inbound.media):
        file = turn.files[index] if index < len(turn.files) else None
        if file is None:
            lines.append(fx.t("documents.download_failed"))
            continue
        if target is None:
            lines.append(fx.t("documents.name_first"))
            break
        state = progress.state(target)
        assert state is not None
        intake = await receive(fx, offer, state.item, file)
        await _record_intake(fx, offer, intake)
        progress = await load_progress(offer)
        lines.append(_intake_line(fx, progress, intake))
        if intake.outcome in ("stored", "replaced"):
            nxt = progress.next_to_ask(after=target)
            target = nxt.item.key if nxt else None
            asked_next = True
    checklist.asking = target
    checklist.skipped = [k for k in checklist.skipped if item_status(progress, k) != "done"]
    await checklist.save()
    if progress.complete and not was_complete and checklist.completed_at is None:
        lines.append(fx.t("documents.all_done"))
        await _answer(turn, offer, "\n".join(lines), "files")
        candidate = await Candidate.get(id=offer.candidate_id)
        await _finish(fx, offer, candidate, checklist, progress)
        return
    if asked_next and target is not None and not progress.complete:
        lines.append(next_line(fx, progress, target))
    await _answer(turn, offer, "\n".join(lines), "files")


def _intake_line(fx: Fx, progress: Progress, intake: Intake) -> str:
    state = progress.state(intake.item)
    assert state is not None
    name = item_name(fx, state)
    if intake.outcome in ("stored", "replaced"):
        key = "documents.received" if intake.outcome == "stored" else "documents.replaced"
        return fx.t(key, name=name, done=progress.done, total=progress.total)
    if intake.outcome == "duplicate":
        assert intake.document is not None
        if intake.document.item == intake.item:
            return fx.t("documents.duplicate_same", name=name)
        other = progress.state(intake.document.item)
        other_name = item_name(fx, other) if other else intake.document.item
        return fx.t("documents.duplicate_other", other=other_name, name=name)
    problem = fx.t(f"documents.problem.{intake.problem}", **intake.details)
    return fx.t("documents.rejected", name=name, problem=problem)


async def _record_intake(fx: Fx, offer: Offer, intake: Intake) -> None:
    data: dict[str, Any] = {"item": intake.item, "outcome": intake.outcome}
    if intake.document is not None:
        data["document_id"] = intake.document.id
    if intake.problem:
        data["problem"] = intake.problem
    await fx.record(offer.candidate_id, f"document_{intake.outcome}", data, offer_id=offer.id)


async def _on_skip(turn: Turn, offer: Offer, progress: Progress) -> None:
    fx = turn.fx
    checklist = progress.checklist
    assert checklist is not None
    if progress.complete and not checklist.asking:
        await _answer(turn, offer, fx.t("documents.nothing_to_skip"), "skip")
        return
    current = progress.state(checklist.asking or "") or progress.next_to_ask()
    assert current is not None
    if current.status == "done":  # they had named a done item, then changed their mind
        lines = [fx.t("documents.skip_keep", name=item_name(fx, current))]
    else:
        lines = [fx.t("documents.skipped", name=item_name(fx, current))]
        if current.item.key not in checklist.skipped:
            checklist.skipped = [*checklist.skipped, current.item.key]
            await checklist.save()
    progress = await load_progress(offer)
    nxt = progress.next_to_ask(after=current.item.key)
    checklist.asking = nxt.item.key if nxt else None
    await checklist.save()
    if nxt is not None and nxt.status == "missing":
        lines.append(next_line(fx, progress, nxt.item.key))
    elif nxt is not None:
        lines.append(fx.t("documents.only_skipped_left", list=item_names(fx, progress.missing)))
    await _answer(turn, offer, "\n".join(lines), "skip")


async def _on_naming(turn: Turn, offer: Offer, progress: Progress, keys: tuple[str, ...]) -> None:
    fx = turn.fx
    checklist = progress.checklist
    assert checklist is not None
    states = [s for key in keys if (s := progress.state(key)) is not None]
    chosen = next((s for s in states if s.status != "done"), states[0])
    checklist.asking = chosen.item.key
    checklist.skipped = [k for k in checklist.skipped if k != chosen.item.key]
    await checklist.save()
    key = "documents.ask_replace" if chosen.status == "done" else "documents.ask"
    text = fx.t(key, name=item_name(fx, chosen), hint=chosen.item.hint(fx.catalog))
    await _answer(turn, offer, text, "ask")


# -- finishing -----------------------------------------------------------------------------


async def _finish(
    fx: Fx, offer: Offer, candidate: Candidate, checklist: DocumentChecklist, progress: Progress
) -> None:
    """Checklist complete: stop the reminders, tell HR, send the candidate the guide."""
    checklist.completed_at = fx.now()
    checklist.asking = None
    await checklist.save()
    await fx.cancel_timers(offer_id=offer.id, kinds=[REMIND, HR_ALERT])
    await fx.record(
        offer.candidate_id, "documents_complete", {"total": progress.total}, offer_id=offer.id
    )
    requisition = await Requisition.get_or_none(id=offer.requisition_id)
    hr_text = fx.t(
        "documents.hr_complete",
        who=who(fx, candidate),
        total=progress.total,
        job=requisition.title if requisition else "",
        start_date=start_date_text(fx, offer),
        candidate_id=candidate.id,
    )
    await fx.to_hr(
        Outgoing(text=hr_text),
        f"docs:{offer.id}:complete",
        candidate_id=candidate.id,
        offer_id=offer.id,
    )
    guide = Outgoing(
        title=fx.t("documents.guide_title"), text=guide_text(fx, offer, candidate, requisition)
    )
    await fx.to_candidate(candidate, guide, f"docs:{offer.id}:guide", offer=offer)


def guide_text(fx: Fx, offer: Offer, candidate: Candidate, requisition: Requisition | None) -> str:
    """The requisition's guide, else the config's, else the catalog default."""
    values = {
        "name": candidate.name,
        "company": fx.settings.company.name,
        "job": requisition.title if requisition else "",
        "start_date": start_date_text(fx, offer),
        "address": (requisition.location if requisition else None)
        or fx.t("documents.guide_address_unknown"),
        "contact": fx.t("documents.guide_contact"),
    }
    custom = (
        requisition.onboarding_guide if requisition else None
    ) or fx.settings.company.onboarding_guide
    if not custom:
        return fx.t("documents.guide_default", **values)
    # HR-written text: fill known placeholders literally; never str.format() foreign text.
    for key, value in values.items():
        custom = custom.replace("{" + key + "}", str(value))
    return custom


# -- timers --------------------------------------------------------------------------------


async def _timer_context(timer: Timer) -> tuple[Offer, Candidate] | None:
    offer = await Offer.get_or_none(id=timer.offer_id) if timer.offer_id else None
    if offer is None or offer.status != "accepted":
        return None  # declined, reneged, withdrawn or already onboarded meanwhile
    candidate = await Candidate.get_or_none(id=offer.candidate_id, erased_at__isnull=True)
    return (offer, candidate) if candidate else None


@router.timer(REMIND)
async def remind(fx: Fx, timer: Timer) -> None:
    context = await _timer_context(timer)
    if context is None:
        return
    offer, candidate = context
    progress = await load_progress(offer, fx.settings)
    if progress.complete:
        return
    text = fx.t(
        "documents.reminder",
        start_date=start_date_text(fx, offer),
        list=numbered(fx, progress, progress.missing),
    )
    message = Outgoing(
        kind="card", title=fx.t("documents.reminder_title"), text=text, actions=buttons(fx, offer)
    )
    key = f"docs:{offer.id}:remind"
    chat = await fx.to_candidate(candidate, message, key, offer=offer)
    if chat is None or reach.page_only(chat):
        # No chat address (or only the page, which notifies nobody): by SMS / e-mail
        # instead or as well (docs/sms-email.md).
        facts = {**await offer_facts(fx, offer), "start_date": start_date_text(fx, offer)}
        sent = await reach.instead_of_chat(fx, candidate, offer, "documents", key, facts)
        if chat is None and not sent:
            log.warning("offer %s: documents reminder has no address to go to", offer.id)
            return
    await fx.record(
        candidate.id,
        "documents_reminded",
        {"missing": item_keys(progress.missing)},
        offer_id=offer.id,
    )


@router.timer(HR_ALERT)
async def alert_hr(fx: Fx, timer: Timer) -> None:
    context = await _timer_context(timer)
    if context is None:
        return
    offer, candidate = context
    progress = await load_progress(offer, fx.settings)
    if progress.complete:
        return
    alert = await _open_alert(fx, offer, progress)
    requisition = await Requisition.get_or_none(id=offer.requisition_id)
    text = fx.t(
        "documents.hr_missing",
        alert_id=alert.id,
        who=who(fx, candidate),
        job=requisition.title if requisition else "",
        start_date=start_date_text(fx, offer),
        count=len(progress.missing),
        missing=item_names(fx, progress.missing),
    )
    # The first line is the heading: no card title beside it (a phone would show it twice).
    message = Outgoing(kind="card", text=text, actions=claim_resolve_actions(fx, alert.id))
    await fx.to_hr(
        message,
        f"docs:{offer.id}:hr_alert",
        candidate_id=candidate.id,
        offer_id=offer.id,
        alert_id=alert.id,
    )


@router.timer(ONBOARD)
async def onboard(fx: Fx, timer: Timer) -> None:
    """The start date has come with the offer still accepted: the candidate is onboarded."""
    context = await _timer_context(timer)
    if context is None:
        return
    offer, candidate = context
    if not await move(fx, offer, "offer_onboarded", actor="timer", by="start_date"):
        return
    await fx.cancel_timers(offer_id=offer.id, kinds=[REMIND, HR_ALERT])
    progress = await load_progress(offer, fx.settings)
    requisition = await Requisition.get_or_none(id=offer.requisition_id)
    job = requisition.title if requisition else ""
    key = f"docs:{offer.id}:onboarded"
    if progress.complete:
        text = fx.t("documents.hr_onboarded_complete", who=who(fx, candidate), job=job)
        await fx.to_hr(Outgoing(text=text), key, candidate_id=candidate.id, offer_id=offer.id)
        return
    alert = await _open_alert(fx, offer, progress)
    text = fx.t(
        "documents.hr_onboarded_missing",
        who=who(fx, candidate),
        job=job,
        alert_id=alert.id,
        count=len(progress.missing),
        missing=item_names(fx, progress.missing),
    )
    message = Outgoing(kind="card", text=text, actions=claim_resolve_actions(fx, alert.id))
    await fx.to_hr(message, key, candidate_id=candidate.id, offer_id=offer.id, alert_id=alert.id)


async def _open_alert(fx: Fx, offer: Offer, progress: Progress):
    alert, _ = await fx.open_alert(
        ALERT_KIND,
        candidate_id=offer.candidate_id,
        offer_id=offer.id,
        data={"missing": item_keys(progress.missing), "start_date": offer.start_date.isoformat()},
        merge_open=True,
    )
    return alert
