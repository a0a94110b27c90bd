"""build_app(runtime) → the aiohttp Application; serve() runs it (plus a worker)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from aiohttp import web

from bot import door, logs, metrics
from bot.compose import start_runtime
from bot.config import Settings
from bot.handlers import api, candidate_page, feishu, ops, playground, wecom
from bot.handlers.common import RUNTIME_KEY
from bot.runtime import Runtime

log = logging.getLogger(__name__)


@web.middleware
async def observe(request: web.Request, handler):
    """Count and time every request by route (not by raw path: ids stay out of labels),
    and give it a request id that its log lines and its answer carry (bot/logs.py)."""
    started = time.perf_counter()
    rid = logs.request_id_from(request.headers.get(logs.HEADER))
    token = logs.REQUEST_ID.set(rid)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:  # a stream (SSE, WebSocket) has sent its headers already
            response.headers[logs.HEADER] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[logs.HEADER] = rid
        raise
    finally:
        logs.REQUEST_ID.reset(token)
        metrics.REQUESTS.labels(name, str(status)).inc()
        metrics.LATENCY.labels(name).observe(time.perf_counter() - started)


def build_app(rt: Runtime) -> web.Application:
    # Webhooks enforce their own 1 MB limit; the larger cap is for document uploads
    # (the playground's and the candidate page's).
    max_size = int(rt.settings.storage.max_document_mb * 1024 * 1024) + 64 * 1024
    app = web.Application(
        middlewares=[observe, door.refuse_encoded, door.body_deadline],
        client_max_size=max_size,
        handler_args=door.handler_args(rt.settings.server),
    )
    app[RUNTIME_KEY] = rt
    door.setup(app, rt.settings.server)
    ops.setup(app)
    api.setup(app)
    wecom.setup(app)
    feishu.setup(app)
    playground.setup(app)
    candidate_page.setup(app)
    return app


async def serve(settings: Settings, *, with_worker: bool = True) -> None:
    """`offerbot serve`: HTTP server (+ an in-process worker). SIGTERM drains both."""
    from bot.worker import build_worker

    rt = await start_runtime(settings)
    app = build_app(rt)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=30,
        access_log=logging.getLogger("aiohttp.access") if settings.server.access_log else None,
    )
    await runner.setup()
    site = door.DoorSite(runner, settings.server)  # connection cap, header deadline
    await site.start()
    log.info(
        "offerbot listening on http://%s:%s (platforms: %s)",
        settings.server.host,
        settings.server.port,
        ", ".join(rt.platforms) or "none",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from bot.transports.registry import build_transports

    rt.transports = build_transports(rt)
    for transport in rt.transports:
        await transport.start()
    workers = None  # supervised: it waits Redis outages out (bot/worker.py)
    if with_worker and rt.redis is not None:
        workers = build_worker(rt)
        asyncio.create_task(workers.async_run())  # noqa: RUF006 - shutdown() awaits it
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing in-flight requests and jobs")
        await site.stop()  # stop accepting, let in-flight requests finish
        for transport in rt.transports:
            await transport.stop()  # close, after the frames being stored are acked
        if workers is not None:
            await workers.shutdown(settings.worker.job_timeout.total_seconds())
        await runner.cleanup()
        await rt.close()
