"""`POST /feishu/events`: Feishu events and card clicks (schema 2.0, plain or encrypted).

Verify (signature, token, age), store the Inbound durably, enqueue, answer 200 at once;
the worker does the rest. The one thing answered here is a card click: Feishu wants the
toast and the replaced card inside this response (3 s), built from the click alone.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.channels.bounds import oversized
from bot.channels.feishu_cards import decided_card
from bot.channels.feishu_events import Rejected, open_request, parse_click, parse_message
from bot.handlers.common import json_error, read_body, runtime, webhook_limit
from bot.runtime import Runtime
from bot.services.ingest import store_inbound

log = logging.getLogger(__name__)

ACK = {"msg": "success"}


def click_answer(rt: Runtime, ui: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """Toast + the card showing the decision (no buttons left to click twice)."""
    label = ui.get("l") if isinstance(ui.get("l"), str) and ui.get("l") else action.get("action")
    toast = rt.catalog.t("channel.feishu.click_toast", label=label)
    answer: dict[str, Any] = {"toast": {"type": "success", "content": toast}}
    if ui:
        status = rt.catalog.t("channel.feishu.click_status", label=label)
        answer["card"] = {"type": "raw", "data": decided_card(ui, status)}
    return answer


async def events(request: web.Request) -> web.Response:
    rt = runtime(request)
    cfg = rt.settings.feishu
    if not cfg.enabled:
        return json_error(404, "feishu is not enabled")
    body = await read_body(request, webhook_limit(request))
    try:
        verified = open_request(
            body,
            request.headers,
            verification_token=cfg.verification_token,
            encrypt_key=cfg.encrypt_key,
            now=rt.clock(),
        )
        if verified.challenge is not None:
            return web.json_response({"challenge": verified.challenge})
        event_type = verified.payload["header"].get("event_type")
        click = None
        if event_type == "im.message.receive_v1":
            inbound = parse_message(verified.payload)
        elif event_type == "card.action.trigger":
            click = parse_click(verified.payload)
            inbound = click.inbound
        else:
            return web.json_response(ACK)  # subscribed to more than we handle: fine
    except Rejected as exc:
        log.info("feishu callback rejected: %s", exc.reason)
        return json_error(exc.status, exc.reason)
    if inbound is not None and (too_long := oversized(inbound)):
        # Acknowledged, not stored: a 4xx would only make Feishu retry what can never fit.
        log.warning("feishu event dropped: %s (see docs/hardening.md)", too_long)
        return web.json_response(ACK)
    if inbound is not None:
        try:
            await store_inbound(rt, inbound)
        except Exception as exc:  # noqa: BLE001 - not stored: a 5xx makes Feishu retry
            log.error("feishu event not stored: %s", type(exc).__name__)
            return json_error(503, "temporarily unavailable")
    if click is not None:
        return web.json_response(click_answer(rt, click.ui, click.inbound.action))
    return web.json_response(ACK)


def setup(app: web.Application) -> None:
    app.router.add_post("/feishu/events", events)
