"""What the playground's two panes show, read from the database.

A pane is a set of addresses on the `web` platform: the candidate pane is one web user,
the HR pane is the HR group (alerts) plus the group chat the HR user types in. A pane
shows both directions:
- what the bot delivered: outbox rows with status `sent` (and rows held back by quiet
  hours, shown as `scheduled` until they go out);
- what the pane's users typed: inbound rows, found by their event id `<sender>/<id>`.

Items carry a stable `id` (`out:<idempotency key>`, `in:<row id>`), so the page and the
event stream can de-duplicate whatever they hear twice (a live push, then the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from tortoise.expressions import Q

from bot.channels.addresses import group_address
from bot.channels.base import HR_GROUP, Inbound, Outgoing
from bot.channels.web.channel import PLAYGROUND_HR_ID, WebDelivery
from bot.history_text import button_label
from bot.i18n import Catalog
from bot.playground.inbound import HR_CHAT_ID, PLATFORM, inbound_event_id
from bot.storage.models import InboundEvent, Outbox

HR_ADDRESSES = (HR_GROUP, group_address(HR_CHAT_ID), PLAYGROUND_HR_ID)
# A row's timestamp is taken a moment before its transaction commits: every read looks
# back this far so that nothing committed late is skipped (duplicates are filtered by id).
OVERLAP = timedelta(seconds=10)
LIMIT = 200
# Pending rows due later than this are held (quiet hours), not merely on their way.
HELD_AFTER = timedelta(seconds=5)


@dataclass(frozen=True)
class Pane:
    name: str  # candidate / hr
    addresses: tuple[str, ...]  # where the bot's messages for this pane go
    senders: tuple[str, ...]  # who types in this pane


def panes_for(user: str | None) -> tuple[Pane, ...]:
    hr = Pane("hr", HR_ADDRESSES, (PLAYGROUND_HR_ID,))
    if not user:
        return (hr,)
    return (Pane("candidate", (user,), (user,)), hr)


def pane_of(address: str, panes: tuple[Pane, ...]) -> str | None:
    for pane in panes:
        if address in pane.addresses:
            return pane.name
    return None


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def outgoing_item(
    key: str, message: Outgoing, pane: str, at: datetime | None, status: str = "sent"
) -> dict[str, Any]:
    title, text = message.headed()  # an alert's title line shown once
    return {
        "id": f"out:{key}",
        "pane": pane,
        "dir": "out",
        "status": status,
        "at": _iso(at),
        "kind": message.kind,
        "title": title,
        "text": text,
        "actions": [action.model_dump(mode="json") for action in message.actions],
        "image": message.image_key,
        "replaces": message.replaces,
    }


def _outbox_item(row: Outbox, pane: str) -> dict[str, Any]:
    message = Outgoing.model_validate(row.payload)
    if row.status == "sent":
        return outgoing_item(row.idempotency_key, message, pane, row.sent_at)
    return outgoing_item(row.idempotency_key, message, pane, row.not_before, "scheduled")


def _inbound_item(row: InboundEvent, pane: str, catalog: Catalog | None) -> dict[str, Any]:
    inbound = Inbound.model_validate(row.payload)
    item = {
        "id": f"in:{row.id}",
        "pane": pane,
        "dir": "in",
        "status": "received",
        "at": _iso(row.received_at),
        "client_id": row.event_id.partition("/")[2],
        "kind": inbound.kind,
        "text": inbound.text,
        "action": inbound.action,
        "event": inbound.event,
        "files": [{"name": m.filename, "kind": m.kind, "size": m.size} for m in inbound.media],
    }
    if inbound.kind == "action" and catalog is not None:  # the button's words, not its key
        item["label"] = button_label(catalog, inbound.action)
    return item


def delivery_item(delivery: WebDelivery, panes: tuple[Pane, ...], now: datetime):
    """A live push from the channel as a page item, or None if no pane shows it."""
    pane = pane_of(delivery.address, panes)
    if pane is None:
        return None
    return outgoing_item(delivery.key, delivery.message, pane, now)


async def load_items(
    panes: tuple[Pane, ...],
    now: datetime,
    since: datetime | None = None,
    *,
    catalog: Catalog | None = None,
) -> list[dict[str, Any]]:
    """Everything the panes show in the order it was written (a message held by quiet
    hours stands where the bot wrote it, not at its send time): the latest LIMIT per
    kind, or what changed since `since` (minus the overlap)."""
    addresses = [a for pane in panes for a in pane.addresses]
    senders = [s for pane in panes for s in pane.senders]
    cutoff = since - OVERLAP if since else None

    sent = Outbox.filter(platform=PLATFORM, status="sent", recipient_id__in=addresses)
    typed = InboundEvent.filter(
        reduce(or_, (Q(event_id__startswith=inbound_event_id(s, "")) for s in senders)),
        platform=PLATFORM,
    )
    if cutoff:
        sent = sent.filter(sent_at__gte=cutoff)
        typed = typed.filter(received_at__gte=cutoff)
    sent_rows = list(reversed(await sent.order_by("-sent_at", "-id").limit(LIMIT)))
    typed_rows = list(reversed(await typed.order_by("-id").limit(LIMIT)))
    held_rows = await Outbox.filter(
        platform=PLATFORM,
        status="pending",
        recipient_id__in=addresses,
        not_before__gt=now + HELD_AFTER,
    ).limit(LIMIT)

    dated: list[tuple[datetime, dict[str, Any]]] = []
    for row in [*sent_rows, *held_rows]:
        pane = pane_of(row.recipient_id, panes)
        if pane:
            dated.append((row.created_at, _outbox_item(row, pane)))
    for row in typed_rows:
        sender = row.event_id.partition("/")[0]
        pane = next((p.name for p in panes if sender in p.senders), None)
        if pane:
            dated.append((row.received_at, _inbound_item(row, pane, catalog)))
    dated.sort(key=lambda pair: pair[0])
    return [item for _, item in dated]
