"""`POST /feishu/events`: Feishu events and card clicks (schema 2.0, plain or encrypted).

Verify (signature, token, age), store the Inbound durably, enqueue, answer 200 at once;
the worker does the rest. The one thing answered here is a card click: Feishu wants the
toast and the replaced card inside this response (3 s), built from the click alone.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.channels.feishu.crypto import open_request
from bot.channels.platform.errors import Rejected
from bot.handlers.common import json_error, read_body, runtime, webhook_limit
from bot.services.feishu_inbound import take

log = logging.getLogger(__name__)

ACK = {"msg": "success"}


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
        # The same path as the long connection's frames (bot/services/feishu_inbound.py).
        answer = await take(rt, verified.payload)
    except Rejected as exc:
        log.info("feishu callback rejected: %s", exc.reason)
        return json_error(exc.status, exc.reason)
    except Exception as exc:  # noqa: BLE001 - not stored: a 5xx makes Feishu retry
        log.error("feishu event not stored: %s", type(exc).__name__)
        return json_error(503, "temporarily unavailable")
    return web.json_response(answer if answer is not None else ACK)


def setup(app: web.Application) -> None:
    app.router.add_post("/feishu/events", events)
