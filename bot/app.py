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
    """`offerbot serve`: HTTP server (+ its worker, in `[worker] serve_workers` child
    processes: bot/child_worker.py). SIGTERM drains them all."""
    from bot.child_worker import ChildWorker, child_settings
    from bot.queue import embedded_redis

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
    children: list[ChildWorker] = []  # each restarted if it dies; waits Redis outages out
    inline = None  # [worker] serve_worker = "same_process": on this event loop
    if with_worker and rt.redis is not None and settings.worker.serve_worker == "same_process":
        from bot.worker import build_worker

        inline = build_worker(rt)
        asyncio.create_task(inline.async_run())  # noqa: RUF006 - shutdown() awaits it
    elif with_worker and rt.redis is not None:
        # Started once the embedded Redis (ours: start_runtime started it) answers.
        socket = None if settings.redis.url else embedded_redis(settings).socket_file
        verbose = logging.getLogger().level == logging.DEBUG
        if settings.database.url.startswith("sqlite"):
            from bot.storage import sqlite_engine

            # Storing a callback goes before the child's next turn (bot/storage/sqlite_engine.py).
            sqlite_engine.HAS_WAY = sqlite_engine.turnstile(settings.data_dir)
        metrics.clear_worker_files(settings.data_dir)  # a previous run's counts
        given = child_settings(settings, socket)
        for n in range(1, settings.worker.serve_workers + 1):
            rt.worker_metrics.append(metrics.worker_file(settings.data_dir, n))
            children.append(ChildWorker(given, n=n, verbose=verbose))
        for child in children:
            child.start()
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing in-flight requests and jobs")
        await site.stop()  # stop accepting, let in-flight requests finish
        for transport in rt.transports:
            await transport.stop()  # close, after the frames being stored are acked
        # SIGTERM to each, all at once; their running jobs finish (up to job_timeout).
        await asyncio.gather(*(child.stop() for child in children))
        if inline is not None:
            await inline.shutdown(settings.worker.job_timeout.total_seconds())
        await runner.cleanup()
        await rt.close()
