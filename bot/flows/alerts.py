"""HR alerts of the offer flow: stored as `Alert` rows, posted to every HR group.

Kinds: `hesitate`, `question`, `silent`, `decline`, `renege`, `expiry`, `advisory`,
`undeliverable`. A card shows the alert's integer id, the candidate (phone masked), the
job and offer, the candidate's words verbatim (passed through `scrub`: ID numbers out,
phone numbers masked), the concerns with talking points per concern (catalog defaults in
`[alerts.talking_points]`, replaced per concern by `settings.talking_points`), and
claim/resolve buttons whose text twins are `/claim <id>` and `/resolve <id>`
(bot/commands/ handles both). An alert born from the candidate's own words keeps how the
bot read them (`reading`) and gets a 误判 / "wrong label" button too: `/correct <id>`,
which answers with the command to send, label filled in by HR (bot/commands/correct.py).

Not flooding the group: with `merge=True` a new event updates the offer's open alert of
the same family and posts a short update (only what is new) instead of a second card:
repeated hesitant replies, a question after a hesitation, the reason after a decline,
another message that could not be delivered.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.channels.base import Action, Outgoing
from bot.i18n import money as format_money
from bot.privacy import mask_phone, scrub
from bot.services.fx import Fx
from bot.storage.models import Alert, Candidate, Offer
from bot.vocab import REASON_CATEGORIES

KINDS = (
    "hesitate",
    "question",
    "silent",
    "decline",
    "renege",
    "expiry",
    "advisory",
    "undeliverable",
)
# The candidate's doubts share one open alert per offer; a hesitation outranks a question.
DOUBT_KINDS = ("hesitate", "question")
OPEN_STATUSES = ("open", "claimed")
REPLIES_KEPT = 20  # verbatim replies an alert keeps (the timeline has all of them)
POINTS_PER_CONCERN = 3


# -- facts, formatted for people (the offer message uses them too) --------------------------


def local_time(fx: Fx, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(fx.settings.company.tz).strftime("%Y-%m-%d %H:%M")


def money(fx: Fx, amount: Decimal | float | int, currency: str = "CNY") -> str:
    return format_money(fx.catalog, amount, currency)  # one format everywhere (bot/i18n.py)


async def offer_facts(fx: Fx, offer: Offer) -> dict[str, str]:
    """job, salary, start_date, deadline: what both sides are shown about an offer."""
    requisition = await fx.requisition(offer.requisition_id)
    return {
        "job": requisition.title if requisition else "",
        "salary": money(fx, offer.salary_monthly, offer.currency),
        "start_date": offer.start_date.isoformat(),
        "deadline": local_time(fx, offer.expires_at),
    }


def label(fx: Fx, category: str) -> str:
    """A concern or reason category as HR reads it."""
    try:
        return fx.t(f"alerts.labels.{category}")
    except KeyError:
        return category


def talking_points(fx: Fx, concern: str) -> list[str]:
    configured = fx.settings.talking_points.get(concern)
    if configured:
        return list(configured)
    try:
        return fx.catalog.list(f"alerts.talking_points.{concern}")
    except KeyError:
        return []


def claim_resolve_actions(fx: Fx, alert_id: int) -> tuple[Action, ...]:
    return (
        Action(
            key="claim",
            label=fx.t("alerts.button_claim"),
            command=f"/claim {alert_id}",
            value={"alert_id": alert_id},
            style="primary",
        ),
        Action(
            key="resolve",
            label=fx.t("alerts.button_resolve"),
            command=f"/resolve {alert_id}",
            value={"alert_id": alert_id},
        ),
    )


def wrong_label_action(fx: Fx, alert: Alert) -> tuple[Action, ...]:
    """The 误判 button, on alerts whose latest reply the bot read from free text."""
    replies = alert.data.get("replies") or [{}]
    if "intent" not in replies[-1]:
        return ()
    return (
        Action(
            key="correct",
            label=fx.t("alerts.wrong_label.button"),
            command=f"/correct {alert.id}",
            value={"alert_id": alert.id},
        ),
    )


def alert_actions(fx: Fx, alert: Alert) -> tuple[Action, ...]:
    """The buttons that still make sense: a claimed alert's update has no 认领."""
    buttons = claim_resolve_actions(fx, alert.id)
    if alert.status == "claimed":
        buttons = tuple(b for b in buttons if b.key != "claim")
    return buttons + wrong_label_action(fx, alert)


def phone_suffix(fx: Fx, candidate: Candidate) -> str:
    return fx.t("alerts.phone", phone=mask_phone(candidate.phone)) if candidate.phone else ""


# -- raising ------------------------------------------------------------------------------


async def raise_alert(
    fx: Fx,
    kind: str,
    *,
    candidate: Candidate,
    offer: Offer | None = None,
    reply: str | None = None,
    concerns: tuple[str, ...] | list[str] = (),
    details: dict[str, Any] | None = None,
    merge: bool = False,
    reading: dict[str, Any] | None = None,
) -> Alert:
    """Open an alert (or with `merge`, update the offer's open one) and post it to HR.

    `reply` is the candidate's message verbatim; `details` are kind-specific facts stored
    on the alert (`reason_category`, `reason_text`, `mismatches`, `messages`, ...);
    `reading` is how the bot read a free-text `reply` (`intent`, `concerns`, `model`), kept
    with it so HR can correct it."""
    assert kind in KINDS, kind
    details = dict(details or {})
    # With `merge`, the open alert is read, modified and written: callers hold the offer's
    # row lock (flows/offer_state.py: locked_offer), so two events of one offer take turns.
    about = details.get("application_id")  # an alert about an application, no offer yet
    current = await open_alert_for(offer, kind, candidate.id, about, fx=fx) if merge else None
    if current is not None:
        kind = await _merged_kind(current, kind)
        data = dict(current.data)
    else:
        data = await _subject(fx, candidate, offer)
    before = set(data.get("concerns", []))
    if reply:
        entry = {"text": scrub(reply), "at": fx.now().isoformat(), **(reading or {})}
        replies = data.get("replies", []) + [entry]
        data["replies"] = replies[-REPLIES_KEPT:]
    data["concerns"] = _ordered({*before, *concerns})
    if "messages" in details:  # undelivered texts accumulate
        details["messages"] = data.get("messages", []) + list(details["messages"])
    if details.get("reason_text"):
        details["reason_text"] = scrub(details["reason_text"])
    data.update(details)
    alert, created = await fx.open_alert(
        kind,
        candidate_id=candidate.id,
        offer_id=offer.id if offer else None,
        data=data,
        merge_open=current is not None,  # looked up above: no second query
        current=current,
    )
    if created:
        message = render_alert(fx, alert)
    else:
        new = [c for c in data["concerns"] if c not in before]
        message = render_update(fx, alert, reply=reply, new_concerns=new, details=details)
    await fx.to_hr(
        message,
        f"alert:{alert.id}:{alert.updates}",
        candidate_id=candidate.id,
        offer_id=alert.offer_id,
        alert_id=alert.id,
        later=True,  # with the turn's other messages, one INSERT (docs/performance.md)
    )
    await fx.record(
        candidate.id,
        "alert_raised" if created else "alert_updated",
        {"alert_id": alert.id, "kind": alert.kind},
        offer_id=alert.offer_id,
    )
    return alert


async def open_alert_for(
    offer: Offer | None,
    kind: str,
    candidate_id: int | None = None,
    application_id: Any = None,
    *,
    fx: Fx | None = None,
) -> Alert | None:
    """The offer's open (or claimed) alert that news of `kind` would update; without an
    offer, the one about that application (bot/flows/reapply.py). With the turn's `fx`,
    an offer the turn read along with "no open alert" is not looked at again."""
    if offer is not None and fx is not None and offer.id in fx.alert_free:
        return None
    family = DOUBT_KINDS if kind in DOUBT_KINDS else (kind,)
    if offer is None:
        if application_id is None:
            return None
        rows = await Alert.filter(
            candidate_id=candidate_id, offer_id=None, kind__in=family, status__in=OPEN_STATUSES
        ).order_by("-id")
        return next((a for a in rows if a.data.get("application_id") == application_id), None)
    return (
        await Alert.filter(offer_id=offer.id, kind__in=family, status__in=OPEN_STATUSES)
        .order_by("-id")
        .first()
    )


async def _merged_kind(current: Alert, kind: str) -> str:
    """The kind the open alert keeps: a question that turns into a hesitation escalates."""
    if current.kind == "question" and kind == "hesitate":
        current.kind = "hesitate"
        await current.save(update_fields=["kind", "updated_at"])
    return current.kind


async def _subject(fx: Fx, candidate: Candidate, offer: Offer | None) -> dict[str, Any]:
    """Who and what the alert is about, as an HR group may see it."""
    data: dict[str, Any] = {"candidate": candidate.name, "phone": mask_phone(candidate.phone)}
    if offer is not None:
        data.update(await offer_facts(fx, offer))
    return data


def _ordered(concerns: set[str]) -> list[str]:
    return [c for c in REASON_CATEGORIES if c in concerns]


# -- rendering ------------------------------------------------------------------------------


def render_alert(fx: Fx, alert: Alert) -> Outgoing:
    """The full card for a new alert."""
    data, kind = alert.data, alert.kind
    title = fx.t(f"alerts.titles.{kind}")
    lines = [fx.t("alerts.header", title=title, id=alert.id), *_subject_lines(fx, data)]
    lines += _body_lines(fx, kind, data)
    replies = data.get("replies", [])
    if replies:
        lines.append(fx.t("alerts.reply", text=replies[-1]["text"]))
        if len(replies) > 1:
            lines.append(fx.t("alerts.earlier_replies", count=len(replies) - 1))
    if kind in ("decline", "renege"):
        lines.append(_reason_line(fx, data))
    concerns = list(data.get("concerns", []))
    if concerns and not all(talking_points(fx, c) for c in concerns):
        lines.append(_concerns_line(fx, concerns))  # else the talking points name them
    lines += _talking_point_lines(fx, _with_reason(concerns, data))
    advice = _optional(fx, f"alerts.advice.{kind}")
    if advice:
        lines.append(fx.t("alerts.advice_line", text=advice))
    lines.append(fx.t("alerts.footer", id=alert.id))
    # No separate `title`: the heading is the text's first line, said once on every
    # platform (a card title plus the same heading read twice).
    return Outgoing(kind="card", text="\n".join(lines), actions=alert_actions(fx, alert))


def render_update(
    fx: Fx,
    alert: Alert,
    *,
    reply: str | None,
    new_concerns: list[str],
    details: dict[str, Any],
) -> Outgoing:
    """A short follow-up to an open alert: only what is new, then the same buttons."""
    data = alert.data
    title = fx.t(f"alerts.titles.{alert.kind}")
    lines = [fx.t("alerts.update_header", id=alert.id, title=title)]
    lines.append(_subject_lines(fx, data)[0])
    if reply:
        lines.append(fx.t("alerts.new_reply", text=scrub(reply)))
    if "reason_category" in details:
        lines.append(_reason_line(fx, data))
    for text in details.get("messages", [])[-1:]:
        lines.append(fx.t("alerts.undeliverable", reason=data.get("delivery_error", "")))
        lines.append(fx.t("alerts.undeliverable_text", text=text))
    if "waited" in details:
        lines.append(
            fx.t("alerts.silent", waited=details["waited"], reminders=details["reminders"])
        )
    concerns = list(data.get("concerns", []))
    if concerns:
        lines.append(_concerns_line(fx, concerns))
    fresh = list(new_concerns)
    category = details.get("reason_category")
    if category and category not in fresh and category not in concerns:
        fresh.append(category)
    lines += _talking_point_lines(fx, fresh)
    lines.append(fx.t("alerts.footer", id=alert.id))
    # No separate `title`: the heading is the text's first line, said once on every
    # platform (a card title plus the same heading read twice).
    return Outgoing(kind="card", text="\n".join(lines), actions=alert_actions(fx, alert))


def _subject_lines(fx: Fx, data: dict[str, Any]) -> list[str]:
    phone = fx.t("alerts.phone", phone=data["phone"]) if data.get("phone") else ""
    # Who and which job on one line: a phone shows little.
    who = fx.t("alerts.candidate", name=data.get("candidate", ""), phone=phone)
    lines = [who + (fx.t("alerts.job", job=data["job"]) if data.get("job") else "")]
    if data.get("salary"):
        lines.append(
            fx.t(
                "alerts.offer",
                salary=data["salary"],
                start_date=data.get("start_date", ""),
                deadline=data.get("deadline", ""),
            )
        )
    return lines


def _body_lines(fx: Fx, kind: str, data: dict[str, Any]) -> list[str]:
    if kind == "advisory":
        lines = [fx.t("alerts.advisory_intro")]
        lines += [f"· {line}" for line in data.get("mismatches", [])]
        if data.get("notes"):
            lines.append(fx.t("alerts.advisory_notes", notes=scrub(data["notes"])))
        return lines
    if kind == "silent":
        waited, reminders = data.get("waited", ""), data.get("reminders", 0)
        lines = [fx.t("alerts.silent", waited=waited, reminders=reminders)]
        if data.get("last_message"):
            lines.append(fx.t("alerts.silent_last", text=data["last_message"]))
        return lines
    if kind == "expiry":
        return [fx.t("alerts.expiry", deadline=data.get("deadline", ""))]
    if kind == "undeliverable":
        lines = [fx.t("alerts.undeliverable", reason=data.get("delivery_error", ""))]
        lines += [fx.t("alerts.undeliverable_text", text=t) for t in data.get("messages", [])]
        return lines
    return []


def _reason_line(fx: Fx, data: dict[str, Any]) -> str:
    category = data.get("reason_category")
    if not category:
        return fx.t("alerts.reason_pending")
    text = data.get("reason_text")
    quoted = fx.t("alerts.reason_text", text=text) if text else ""
    return fx.t("alerts.reason", category=label(fx, category), text=quoted)


def _concerns_line(fx: Fx, concerns: list[str]) -> str:
    separator = fx.t("alerts.list_separator")
    return fx.t("alerts.concerns", list=separator.join(label(fx, c) for c in concerns))


def _with_reason(concerns: list[str], data: dict[str, Any]) -> list[str]:
    category = data.get("reason_category")
    return concerns + [category] if category and category not in concerns else concerns


def _talking_point_lines(fx: Fx, concerns: list[str]) -> list[str]:
    lines: list[str] = []
    for concern in concerns:
        points = talking_points(fx, concern)[:POINTS_PER_CONCERN]
        if not points:
            continue
        lines.append(fx.t("alerts.talking_point_concern", concern=label(fx, concern)))
        lines += [fx.t("alerts.talking_point", point=p) for p in points]
    return lines


def _optional(fx: Fx, key: str) -> str:
    try:
        return fx.t(key)
    except KeyError:
        return ""
