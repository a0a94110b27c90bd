"""Operations endpoints: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.handlers.common import runtime
from bot.metrics import exposition
from bot.storage import db


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt = runtime(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(db.ping(), timeout=2)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        if rt.redis is None:
            raise ConnectionError("not connected")
        await asyncio.wait_for(rt.redis.ping(), timeout=2)
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    # Which reply model serves (a model kept by `offerbot train-intents`, else the shipped one).
    body["intents"] = {
        "provider": rt.settings.intents.provider,
        "model": str(getattr(rt.intents, "model_name", "rules")),
    }
    if rt.transports:
        body["connections"] = {t.name: t.status.as_json() for t in rt.transports}
    problems = await rt.problems.everywhere(list(rt.channels))
    if problems:
        body["problems"] = problems
    return web.json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    rt = runtime(request)
    resp = web.Response(body=exposition(rt.worker_metrics))  # + serve's worker children
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
