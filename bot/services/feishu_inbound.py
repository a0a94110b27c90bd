"""One Feishu event or card click, however it arrived: parse, store durably, answer.

The webhook (`POST /feishu/events`, after its signature/token checks) and the long
connection (bot/transports/feishu_ws, where the connection itself is the proof) both
hand the verified schema 2.0 payload to `take`. It stores the Inbound through
`bot.services.ingest` (same table, de-duplicated by message id) and returns only once
the row is committed, so the caller may acknowledge. A card click is the one thing
answered at once: Feishu wants the toast and the replaced card inside the answer (3 s),
built from the click alone (docs/feishu.md, docs/long-connections.md).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.channels.bounds import oversized
from bot.channels.feishu.parse import parse_click, parse_message
from bot.channels.feishu.render import decided_card
from bot.channels.platform.errors import Rejected
from bot.runtime import Runtime
from bot.services.ingest import store_inbound

log = logging.getLogger(__name__)

MESSAGE = "im.message.receive_v1"
CARD_ACTION = "card.action.trigger"


def click_answer(rt: Runtime, ui: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """Toast + the card showing the decision (no buttons left to click twice)."""
    label = ui.get("l") if isinstance(ui.get("l"), str) and ui.get("l") else action.get("action")
    toast = rt.catalog.t("channel.feishu.click_toast", label=label)
    answer: dict[str, Any] = {"toast": {"type": "success", "content": toast}}
    if ui:
        status = rt.catalog.t("channel.feishu.click_status", label=label)
        answer["card"] = {"type": "raw", "data": decided_card(ui, status)}
    return answer


def event_type(payload: dict[str, Any]) -> str:
    header = payload.get("header")
    if not isinstance(header, dict):
        raise Rejected(400, "not a schema 2.0 event (no header)")
    value = header.get("event_type")
    return value if isinstance(value, str) else ""


async def take(rt: Runtime, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Store one verified payload; return the card click's answer, or None for a plain
    acknowledgement. Raises `Rejected` for a malformed payload (nothing stored) and the
    database's error when the row could not be committed (the platform must retry)."""
    kind = event_type(payload)
    click = None
    if kind == MESSAGE:
        inbound = parse_message(payload)
    elif kind == CARD_ACTION:
        click = parse_click(payload)
        inbound = click.inbound
    else:
        return None  # subscribed to more than we handle: fine
    if inbound is not None and (too_long := oversized(inbound)):
        # Acknowledged, not stored: refusing would only make Feishu retry what never fits.
        log.warning("feishu event dropped: %s (see docs/hardening.md)", too_long)
        return None
    if inbound is not None:
        await store_inbound(rt, inbound)
    if click is not None:
        return click_answer(rt, click.ui, click.inbound.action)
    return None
