"""A candidate's history as chat text, shared by `/history` and the re-applicant alert.

Free text written by people (interview notes, reasons, HR notes, messages) always goes
through `scrub`: ID numbers never reach a chat, phone numbers inside text are masked.
The profile phone and e-mail are masked too unless the answer goes to a private chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.history import CandidateHistory, offer_closed_at, offer_reason
from bot.i18n import Catalog, money
from bot.privacy import mask_phone, scrub
from bot.storage.models import Alert, Application, Candidate, Note, TimelineEvent

CLIP = 120
RECENT = 5


def clip(text: str | None, limit: int = CLIP) -> str:
    """One line of at most `limit` characters, safe for a chat."""
    text = scrub(" ".join((text or "").split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(catalog: Catalog, key: str, fallback: str) -> str:
    """A catalog word, or `fallback` for values the catalog does not know (yet)."""
    try:
        return catalog.t(key)
    except KeyError:
        return fallback


def reason_label(catalog: Catalog, category: str) -> str:
    """Short name of a reason category (the alert cards' words)."""
    return label(catalog, f"alerts.labels.{category}", category)


def alert_kind_label(catalog: Catalog, kind: str) -> str:
    """The alert cards' title for a kind, else ours (kinds the cards do not post)."""
    return label(
        catalog, f"alerts.titles.{kind}", label(catalog, f"commands.alert_kinds.{kind}", kind)
    )


def event_label(catalog: Catalog, kind: str) -> str:
    """A timeline event as people read it (every kind has one: tests/test_catalog_labels.py)."""
    return label(catalog, f"commands.event_kinds.{kind}", clip(kind, 40))


# The catalog word of each button the bot puts on a card (what a click echoes).
BUTTON_WORDS = {
    "accept": "offer.button_accept",
    "decline": "offer.button_decline",
    "question": "offer.button_question",
    "claim": "alerts.button_claim",
    "resolve": "alerts.button_resolve",
    "correct": "alerts.wrong_label.button",
}


def button_label(catalog: Catalog, action: dict) -> str:
    """The label of the button a click came from, from the catalogs (not from the page)."""
    key = str(action.get("action", ""))
    if key.startswith("reason:"):
        return label(catalog, f"offer.reasons.{key[len('reason:') :]}", key)
    word = BUTTON_WORDS.get(key)
    return label(catalog, word, key) if word else key


def mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


@dataclass(frozen=True)
class Style:
    catalog: Catalog
    tz: ZoneInfo
    private: bool  # a private chat with an admin: the profile shows phone and e-mail in full

    def t(self, key: str, **values) -> str:
        return self.catalog.t(key, **values)

    def day(self, when: datetime | None) -> str:
        return when.astimezone(self.tz).strftime("%Y-%m-%d") if when else "?"

    def reason(self, category: str | None) -> str:
        if not category:
            return self.t("commands.history.no_reason")
        return reason_label(self.catalog, category)

    def status(self, status: str) -> str:
        return label(self.catalog, f"commands.status.{status}", status)


def candidate_title(s: Style, c: Candidate) -> str:
    phone = (c.phone if s.private else mask_phone(c.phone)) if c.phone else ""
    parts = [f"{clip(c.name, 40)} (#{c.id})"]
    if phone:
        parts.append(phone)
    return " · ".join(parts)


def profile_lines(s: Style, c: Candidate) -> list[str]:
    lines = [s.t("commands.history.header", who=candidate_title(s, c))]
    details = []
    if c.email:
        details.append(c.email if s.private else mask_email(c.email))
    if c.external_id:
        details.append(s.t("commands.history.external_id", value=clip(c.external_id, 40)))
    if details:
        lines.append(" · ".join(details))
    return lines


def application_lines(s: Style, app: Application) -> list[str]:
    head = s.t(
        "commands.history.application",
        title=clip(app.requisition.title, 40),
        date=s.day(app.applied_at),
    )
    if app.source:
        head += s.t("commands.history.source", source=clip(app.source, 30))
    if app.reapplication_of:
        head += s.t("commands.history.reapplied")
    lines = [head]
    for iv in app.interviews_sorted:
        lines.append(
            s.t(
                "commands.history.interview",
                round=iv.round,
                date=s.day(iv.held_at),
                score=iv.score if iv.score is not None else "-",
                interviewer=clip(iv.interviewer, 20) or "-",
                notes=clip(iv.notes) or "-",
            )
        )
    for offer in sorted(app.offers, key=lambda o: o.id):
        closed = offer_closed_at(offer)
        lines.append(
            s.t(
                "commands.history.offer",
                id=offer.id,
                date=s.day(offer.created_at),
                salary=money(s.catalog, offer.salary_monthly, offer.currency),
                status=s.status(offer.status),
                closed=s.day(closed) if closed else "",
            ).rstrip()
        )
        category, text = offer_reason(offer)
        if category or text:
            lines.append(
                s.t("commands.history.reason", category=s.reason(category), text=clip(text) or "-")
            )
    return lines


def note_lines(s: Style, notes: list[Note]) -> list[str]:
    if not notes:
        return []
    lines = [s.t("commands.history.notes")]
    for note in notes:
        lines.append(
            s.t(
                "commands.history.note",
                date=s.day(note.created_at),
                author=clip(note.author, 40),
                text=clip(note.text, 300),
            )
        )
    return lines


def alert_lines(s: Style, alerts: list[Alert]) -> list[str]:
    if not alerts:
        return []
    lines = [s.t("commands.history.alerts")]
    for alert in alerts:
        lines.append(
            s.t(
                "commands.history.alert",
                id=alert.id,
                date=s.day(alert.created_at),
                kind=alert_kind_label(s.catalog, alert.kind),
                status=label(s.catalog, f"commands.alert_status.{alert.status}", alert.status),
            )
        )
    return lines


def event_lines(s: Style, events: list[TimelineEvent]) -> list[str]:
    recent = events[-RECENT:]
    if not recent:
        return []
    lines = [s.t("commands.history.recent")]
    for event in recent:
        text = event.data.get("text") if isinstance(event.data, dict) else None
        lines.append(
            s.t(
                "commands.history.event",
                date=s.day(event.at),
                kind=event_label(s.catalog, event.kind),
                text=clip(text, 80) if isinstance(text, str) else "",
            ).rstrip(" ：:")
        )
    return lines


def render_history(s: Style, h: CandidateHistory) -> str:
    lines = profile_lines(s, h.candidate)
    if not h.applications:
        lines.append(s.t("commands.history.no_applications"))
    for app in h.applications:
        lines.append("")
        lines.extend(application_lines(s, app))
    for block in (note_lines(s, h.notes), alert_lines(s, h.alerts), event_lines(s, h.events)):
        if block:
            lines.append("")
            lines.extend(block)
    return "\n".join(lines)
