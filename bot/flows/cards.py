"""Cards that tell the truth (docs/offer-flow.md#cards-after-a-decision): after a decision,
every card the bot sent about the offer or the alert is replaced by one showing the
outcome and only the buttons that still make sense.

The cards are the outbox rows themselves (sent, with buttons, about that offer or alert);
each gets a replacement message whose `replaces` names the card the way its platform
needs: the playground (`web`) by the card's outbox key — so a reloaded page shows the
server's state, not what the page remembered —, Feishu by message id (PATCH), WeCom by a
response code (the click's own when the click came from that card, else the one the send
returned; `update_template_card`). One replacement per card and state (idempotent).

Which buttons stay: a question leaves accept and decline (nothing changes, no refresh);
a claim leaves resolve (and 误判); a decision leaves none.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.channels.base import Outgoing
from bot.channels.wecom.render import task_id
from bot.services.fx import Fx
from bot.storage.models import Alert, KeyValue, Offer, Outbox

OFFER_KEYS = ("accept", "decline", "question")
REASON_PREFIX = "reason:"
ALERT_KEYS = ("claim", "resolve", "correct")
REASON_STAGES = ("awaiting_decline_reason", "awaiting_renege_reason")
KEY_PREFIX = "card:"  # the replacements' outbox keys (Fx.replace_card)
CARDS_SCANNED = 50  # an offer has a card, a reminder and a reason menu: plenty


def local_time(fx: Fx, moment: Any) -> str:
    if moment is None:
        return ""
    return moment.astimezone(fx.settings.company.tz).strftime("%m-%d %H:%M")


# -- what a card shows now -----------------------------------------------------------------


def offer_state(fx: Fx, offer: Offer) -> tuple[set[str], str]:
    """(the offer buttons still usable, the outcome line) for the offer as it stands."""
    if offer.status == "sent":
        return set(OFFER_KEYS), ""
    stamp = {
        "accepted": offer.accepted_at,
        "onboarded": offer.accepted_at,
        "declined": offer.declined_at,
        "reneged": offer.reneged_at,
        "expired": offer.expired_at,
        "withdrawn": offer.withdrawn_at,
    }.get(offer.status)
    return set(), fx.t(f"cards.offer.{offer.status}", time=local_time(fx, stamp))


def reason_state(fx: Fx, offer: Offer) -> tuple[set[str], str]:
    if offer.stage in REASON_STAGES:
        return {"*"}, ""
    if offer.reason_category:
        return set(), fx.t("cards.reason", reason=fx.t(f"offer.reasons.{offer.reason_category}"))
    return set(), ""


def alert_state(fx: Fx, alert: Alert, by: str = "") -> tuple[set[str], str]:
    if alert.status == "open":
        return set(ALERT_KEYS), ""
    if alert.status == "claimed":
        who = by or alert.claimed_by or "-"
        return {"resolve", "correct"}, fx.t(
            "cards.claimed", by=who, time=local_time(fx, alert.claimed_at)
        )
    who = by or alert.resolved_by or "-"
    return {"correct"}, fx.t("cards.resolved", by=who, time=local_time(fx, alert.resolved_at))


def shown(message: Outgoing, managed: tuple[str, ...], live: set[str], outcome: str) -> Outgoing:
    """The card with the buttons of `managed` kinds cut to `live` and the outcome below."""
    actions = tuple(
        a for a in message.actions if not _managed(a.key, managed) or "*" in live or a.key in live
    )
    text = f"{message.text}\n{outcome}" if outcome else message.text
    return message.model_copy(update={"actions": actions, "text": text, "replaces": ""})


def _managed(key: str, managed: tuple[str, ...]) -> bool:
    return key in managed or (REASON_PREFIX in managed and key.startswith(REASON_PREFIX))


# -- replacing the cards ---------------------------------------------------------------------


async def refresh_offer(fx: Fx, offer: Offer, *, click: dict[str, Any] | None = None) -> int:
    """Replace the offer's cards (offer, reminder, reason menu); returns how many. The
    same statement reads the offer's candidate messages still pending, noted on `fx` for
    `offer_state.stop_waiting` (which then needs no statement when none is held)."""
    found = await Outbox.filter(
        offer_id=offer.id, recipient_kind="user", status__in=("sent", "pending")
    ).order_by("-id").limit(CARDS_SCANNED)
    if len(found) < CARDS_SCANNED:  # all of them: the held ones are known
        fx.held[offer.id] = [
            r.id
            for r in found
            if r.status == "pending" and not r.idempotency_key.startswith(KEY_PREFIX)
        ]
    rows = _shown_cards([r for r in found if r.status == "sent"])
    count = 0
    for row in rows:
        message = Outgoing.model_validate(row.payload)
        keys = {a.key for a in message.actions}
        if keys & set(OFFER_KEYS):
            live, outcome = offer_state(fx, offer)
            new = shown(message, OFFER_KEYS, live, outcome)
        elif any(k.startswith(REASON_PREFIX) for k in keys):
            live, outcome = reason_state(fx, offer)
            new = shown(message, (REASON_PREFIX,), live, outcome)
        else:
            continue
        count += await _replace(fx, row, message, new, click)
    return count


async def refresh_alert(
    fx: Fx, alert: Alert, *, by: str = "", click: dict[str, Any] | None = None
) -> int:
    """Replace the alert's cards in the HR groups (the card and its updates)."""
    rows = await _cards(Outbox.filter(alert_id=alert.id))
    count = 0
    live, outcome = alert_state(fx, alert, by)
    for row in rows:
        message = Outgoing.model_validate(row.payload)
        if not {a.key for a in message.actions} & set(ALERT_KEYS):
            continue
        count += await _replace(fx, row, message, shown(message, ALERT_KEYS, live, outcome), click)
    return count


async def _cards(query: Any) -> list[Outbox]:
    return _shown_cards(await query.filter(status="sent").order_by("-id").limit(CARDS_SCANNED))


def _shown_cards(rows: list[Outbox]) -> list[Outbox]:
    return [r for r in rows if r.payload.get("actions") and not r.payload.get("replaces")]


async def _replace(
    fx: Fx, row: Outbox, before: Outgoing, after: Outgoing, click: dict[str, Any] | None
) -> int:
    if after.actions == before.actions and after.text == before.text:
        return 0  # nothing changed (a question leaves the offer card as it is)
    target = await _target(row, click)
    if not target:
        return 0
    if row.platform == "wecom":
        # WeCom swaps the buttons for one grey label: only once nothing is left to press.
        if any(_managed(a.key, OFFER_KEYS + ALERT_KEYS + (REASON_PREFIX,)) for a in after.actions):
            return 0
        after = Outgoing(kind="card", text=after.text.rsplit("\n", 1)[-1])
    version = hashlib.sha256(after.model_dump_json().encode()).hexdigest()[:12]
    await fx.replace_card(row, after.model_copy(update={"replaces": target}), version, later=True)
    return 1


async def _target(row: Outbox, click: dict[str, Any] | None) -> str:
    """How the row's platform names the card to replace."""
    if row.platform == "web":
        return row.idempotency_key
    if row.platform == "wecom_bot":
        return ""  # the AI bot updates a card only in answer to its click (claim_resolve)
    if row.platform == "wecom" and (
        row.recipient_kind != "user" or row.recipient_id.startswith(("kf:", "chat:"))
    ):
        return ""  # only app members get template cards (微信客服 and groups get text)
    if row.platform == "wecom" and click and click.get("response_code"):
        salt = await KeyValue.get_or_none(key="wecom:task_salt")
        value = salt.value.get("salt") if salt and isinstance(salt.value, dict) else None
        if value and task_id(str(value), row.idempotency_key) == click.get("task_id"):
            return str(click["response_code"])
    return row.platform_message_id or ""
