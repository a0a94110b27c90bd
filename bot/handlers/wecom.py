"""`GET, POST /wecom/callback`: URL verification and encrypted callbacks (see docs/wecom.md).

The POST path only verifies (age, signature, corp id), decrypts, parses, stores and
acknowledges with 200 and an empty body — WeCom wants an answer within 5 s and retries
otherwise; the worker does everything else. A refused request gets a 4xx and leaves
nothing behind; a database that cannot store gets a 503 (WeCom retries later).
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.channels.bounds import oversized
from bot.channels.wecom.crypto import Rejected, parse_xml
from bot.channels.wecom.parse import PLATFORM, callback_inbound
from bot.handlers.common import read_body, runtime, webhook_limit
from bot.services.ingest import store_inbound

log = logging.getLogger(__name__)

_QUERY_MAX = 1024  # any single query value longer than this is not WeCom's


def _channel(request: web.Request):
    channel = runtime(request).channels.get(PLATFORM)
    if channel is None:
        raise web.HTTPNotFound(text="wecom is not enabled")
    if channel.crypto is None:
        raise web.HTTPServiceUnavailable(text="wecom.encoding_aes_key is not valid")
    return channel


def _query(request: web.Request, *names: str) -> list[str]:
    values = []
    for name in names:
        value = request.query.get(name, "")
        if not value or len(value) > _QUERY_MAX:
            raise Rejected(400, f"missing or oversized query parameter {name}")
        values.append(value)
    return values


def _refuse(request: web.Request, rejected: Rejected) -> web.Response:
    log.warning("wecom %s refused: %s", request.method, rejected.reason)
    return web.Response(status=rejected.status, text=rejected.reason)


async def verify_url(request: web.Request) -> web.Response:
    channel = _channel(request)
    try:
        signature, timestamp, nonce, echostr = _query(
            request, "msg_signature", "timestamp", "nonce", "echostr"
        )
        plain = channel.crypto.verify_url(
            signature, timestamp, nonce, echostr, runtime(request).clock()
        )
    except Rejected as rejected:
        return _refuse(request, rejected)
    # The plaintext alone: no quotes, no BOM, no newline.
    return web.Response(text=plain, content_type="text/plain")


async def receive(request: web.Request) -> web.Response:
    channel = _channel(request)
    rt = runtime(request)
    try:
        signature, timestamp, nonce = _query(request, "msg_signature", "timestamp", "nonce")
        body = await read_body(request, webhook_limit(request))  # 413 past the limit
        if not body.strip():
            raise Rejected(400, "empty body")
        plaintext = channel.crypto.open_callback(signature, timestamp, nonce, body, rt.clock())
        inbound = callback_inbound(parse_xml(plaintext))
    except Rejected as rejected:
        return _refuse(request, rejected)
    if inbound is not None and (too_long := oversized(inbound)):
        # Acknowledged, not stored: a 4xx would only make WeCom retry what can never fit.
        log.warning("wecom callback dropped: %s (see docs/hardening.md)", too_long)
        inbound = None
    if inbound is not None:
        try:
            await store_inbound(rt, inbound)
        except Exception:  # noqa: BLE001 - not stored, so not acknowledged: WeCom retries
            log.exception("wecom callback could not be stored")
            return web.Response(status=503, text="try again later")
    return web.Response(status=200, text="")


def setup(app: web.Application) -> None:
    app.router.add_get("/wecom/callback", verify_url)
    app.router.add_post("/wecom/callback", receive)
