"""Reaching a candidate outside chat: SMS and e-mail with the candidate page's link.

The one place that decides (docs/sms-email.md, "When each route is used"); the flows call
it at three moments:

- `invite`: an offer for a candidate with no platform identity goes out by SMS and/or
  e-mail at once (HR still gets the invite code and link in the API answer);
- `instead_of_chat`: a reminder or document reminder that chat cannot carry (no
  identity; the chat row came back held or failed: 微信客服 window closed, budget spent,
  refused) goes by SMS and/or e-mail instead;
- `every_route_failed`: an SMS or e-mail gave up; HR is alerted only when no route of
  that message is left (the others failed too).

The rules: chat first whenever it can reach the candidate (callers ask here only when it
cannot); quiet hours hold SMS and e-mail like chat messages; at most one SMS per
candidate per 24 h unless the candidate has written since; each SMS and e-mail is an
outbox row (platform `sms` / `email`) keyed `<the message's key>:sms|email`, so it is
retried, de-duplicated and erased like any chat message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tortoise.expressions import Q

from bot.channels.addresses import ADDRESS_FIELDS
from bot.channels.base import Outgoing
from bot.channels.sms.channel import china_mobile
from bot.channels.web.channel import PAGE_ADDRESS_PREFIX
from bot.services import candidate_links
from bot.services.fx import Fx
from bot.storage.models import Candidate, Conversation, Offer, Outbox

ROUTES = ("sms", "email")
SMS_GAP = timedelta(hours=24)
# What each purpose sends: (SMS template, catalog prefix of the e-mail's subject/body).
PURPOSES = {
    "invite": "invite",
    "reminder": "reminder",
    "documents": "reminder",
}
EMAIL_MAX = 191  # the outbox's recipient column
_LIVE = ("pending", "sending", "sent")
_GAVE_UP = ("failed", "held")


def routes(fx: Fx) -> list[str]:
    """The outside-chat routes this deployment has ([sms] / [email] enabled)."""
    return [r for r in ROUTES if r in fx.rt.channels]


def addresses(fx: Fx, candidate: Candidate) -> dict[str, str]:
    """Where the candidate can be reached outside chat: route → address."""
    found: dict[str, str] = {}
    if "sms" in fx.rt.channels:
        phone = china_mobile(candidate.phone)
        if phone:
            found["sms"] = phone
    email = (candidate.email or "").strip()
    if "email" in fx.rt.channels and "@" in email and len(email) <= EMAIL_MAX:
        found["email"] = email
    return found


def page_only(row: Outbox | None) -> bool:
    """The chat row went to the candidate page alone: it shows there when they look, but
    nothing tells them, so reminders go by SMS / e-mail as well (docs/sms-email.md)."""
    return (
        row is not None
        and row.platform == "web"
        and row.recipient_id.startswith(PAGE_ADDRESS_PREFIX)
    )


def purpose_of(row: Outbox) -> str | None:
    """Which chat message may go outside chat instead when chat cannot carry it."""
    if row.platform in ROUTES or row.offer_id is None:
        return None
    if row.idempotency_key.startswith(f"offer:{row.offer_id}:reminder"):
        return "reminder"
    if row.idempotency_key == f"docs:{row.offer_id}:remind":
        return "documents"
    return None


# -- the three moments ------------------------------------------------------------------


async def invite(fx: Fx, candidate: Candidate, offer: Offer, facts: dict[str, str]) -> list[Outbox]:
    """The offer of a candidate without chat identity: SMS and/or e-mail now."""
    return await instead_of_chat(fx, candidate, offer, "invite", f"offer:{offer.id}:invite", facts)


async def every_route_failed(fx: Fx, row: Outbox) -> bool:
    """An SMS or e-mail gave up: True when no route of the same message is still pending
    or went out (then HR must be told). The offer row is locked first, so the last of two
    routes failing at once sees the other's outcome (docs/sms-email.md)."""
    if row.offer_id is not None:
        await Offer.filter(id=row.offer_id).select_for_update().first()
    base = row.idempotency_key.rsplit(":", 1)[0]
    keys = [f"{base}:{route}" for route in ROUTES]
    statuses = await Outbox.filter(idempotency_key__in=keys).values_list("status", flat=True)
    return all(status in _GAVE_UP for status in statuses)


def text_for_hr(fx: Fx, message: Outgoing) -> str:
    """An SMS / e-mail's words as the HR group may read them: the candidate's personal page
    link opens their offer, so it is not posted to a group."""
    link = message.params.get("link", "")
    return message.text.replace(link, fx.t("reach.link_hidden")) if link else message.text


async def sms_waits(fx: Fx, candidate: Candidate) -> bool:
    """True when an SMS to the candidate would wait out the 24 h rule now (for HR's answer)."""
    return "sms" in addresses(fx, candidate) and await _sms_too_soon(fx, candidate)


async def failure_summary(fx: Fx, row: Outbox) -> str:
    """What went wrong on each route, for HR ("短信：… ；邮件：…"); no addresses."""
    base = row.idempotency_key.rsplit(":", 1)[0]
    rows = await Outbox.filter(idempotency_key__in=[f"{base}:{r}" for r in ROUTES]).order_by("id")
    parts = [
        fx.t("reach.route_failed", route=fx.t(f"reach.route.{r.platform}"), reason=r.last_error)
        for r in rows
    ]
    return fx.t("reach.list_separator").join(parts)


# -- the rules --------------------------------------------------------------------------


async def instead_of_chat(
    fx: Fx,
    candidate: Candidate,
    offer: Offer,
    purpose: str,
    key: str,
    facts: dict[str, str],
) -> list[Outbox]:
    """A message chat could not carry (the invite, a reminder): the outside routes
    instead, each at most once per key (none: empty list)."""
    where = addresses(fx, candidate)
    if not where:
        return []
    # One at a time per candidate (row lock on PostgreSQL): the 24 h SMS rule reads and
    # then writes, and two timers of one candidate may fire together.
    await Candidate.filter(id=candidate.id).select_for_update().first()
    template = PURPOSES[purpose]
    rows: list[Outbox] = []
    link: str | None = None
    for route, address in where.items():
        route_key = f"{key}:{route}"
        existing = await Outbox.filter(idempotency_key=route_key).first()
        if existing is not None:  # the same message again (a retried job): nothing new
            rows.append(existing)
            continue
        if route == "sms" and not _sms_template(fx, template):
            continue  # no reminder template: reminders go by e-mail only
        if route == "sms" and await _sms_too_soon(fx, candidate):
            await fx.record(candidate.id, "sms_suppressed", {"purpose": purpose}, offer_id=offer.id)
            continue
        if link is None:
            link = await candidate_links.link_for(fx.rt, candidate.id)
        message = _message(fx, candidate, purpose, template, {**facts, "link": link})
        row = await fx.to_candidate(
            candidate, message, route_key, offer=offer, platform=route, address=address
        )
        if row is not None:
            rows.append(row)
    if rows:
        await fx.record(
            candidate.id,
            "reached_outside_chat",
            {"purpose": purpose, "routes": [r.platform for r in rows]},
            offer_id=offer.id,
        )
    return rows


def _sms_template(fx: Fx, template: str) -> str:
    sms = fx.settings.sms
    return sms.template_invite if template == "invite" else sms.template_reminder


async def _sms_too_soon(fx: Fx, candidate: Candidate) -> bool:
    """An SMS went out (or waits to) within 24 h and the candidate has not written since."""
    last = (
        await Outbox.filter(platform="sms", candidate_id=candidate.id, status__in=_LIVE)
        .order_by("-id")
        .first()
    )
    if last is None:
        return False
    when = last.sent_at or last.not_before
    if fx.now() - when >= SMS_GAP:
        return False
    return not await _answered_since(candidate, when)


async def _answered_since(candidate: Candidate, moment: Any) -> bool:
    """A reply to an offer, or any message (a document too) from one of their chat
    addresses, after `moment`."""
    if await Offer.filter(candidate_id=candidate.id, last_reply_at__gt=moment).exists():
        return True
    mine = Q(pk__in=[])
    for platform, fields in ADDRESS_FIELDS.items():
        for attr, prefix in fields:
            value = getattr(candidate, attr, None)
            if value:
                mine |= Q(platform=platform, user_id=prefix + value)
    return await Conversation.filter(mine, last_inbound_at__gt=moment).exists()


def _message(
    fx: Fx, candidate: Candidate, purpose: str, template: str, values: dict[str, str]
) -> Outgoing:
    """One message for both routes: the e-mail's subject and body; the SMS template and
    its parameters (the body is also what HR is shown if nothing gets through)."""
    words = {"name": candidate.name, "company": fx.settings.company.name, **values}
    return Outgoing(
        title=fx.t(f"reach.{purpose}_subject", **words),
        text=fx.t(f"reach.{purpose}_body", **words),
        template=template,
        params={
            "name": candidate.name,
            "company": fx.settings.company.name,
            "job": values.get("job", ""),
            "link": values["link"],
        },
    )
