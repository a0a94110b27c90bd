"""Everything a running process shares: settings, database, Redis, channels, catalogs.

`open_runtime` opens the shared resources (database, Redis, HTTP session); what is built
from them — channels, the reply classifier, the document store — is put in by the
composition root, bot/compose.py, whose `start_runtime` every process calls. Handed to
the HTTP app and the worker; no module reads configuration or the environment on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from arq.connections import ArqRedis

from bot.channels.base import Channel
from bot.config import Settings
from bot.i18n import Catalog
from bot.problems import Problems
from bot.queue import Enqueuer, connect, connect_later
from bot.storage import db

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    redis: ArqRedis | None
    http: aiohttp.ClientSession
    channels: dict[str, Channel] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=Catalog)
    _intents: Any = None
    make_intents: Callable[[], Any] | None = None  # the classifier's factory (bot/compose.py)
    documents: Any = None  # the document store (bot/documents/store.py)
    batcher: Any = None  # group commit of inbound events (bot/services/ingest.py)
    clock: Callable[[], datetime] = _utcnow
    # Problems worth showing on /readyz (e.g. a WeCom secret that was refused).
    problems: Problems = field(default_factory=Problems)
    # The database clients opened at start. tortoise keeps them per contextvars context,
    # so close() may run in a context that cannot see them (an asyncio task copied before
    # start, a test fixture's teardown): the runtime closes what it opened itself.
    db_clients: list[Any] = field(default_factory=list)
    # Set when Redis came back after an outage: the sweeper re-queues at once what was
    # stored meanwhile (docs/redis.md).
    redis_back: asyncio.Event = field(default_factory=asyncio.Event)
    redis_supervisor: asyncio.Task | None = None  # restarts the embedded Redis
    # Long connections this process runs (bot/transports); /readyz shows their state.
    transports: list[Any] = field(default_factory=list)
    # Where serve's worker children write their metrics (bot/metrics.py), for /metrics.
    worker_metrics: list[Path] = field(default_factory=list)

    @property
    def intents(self) -> Any:
        """The reply reader (learned model + rules, LLM if configured), built on first use."""
        if self._intents is None:
            if self.make_intents is None:
                raise RuntimeError("no reply classifier: start with bot.compose.start_runtime")
            self._intents = self.make_intents()
        return self._intents

    @property
    def enqueuer(self) -> Enqueuer:
        return Enqueuer(self.redis, clock=lambda: self.clock())

    @property
    def platforms(self) -> list[str]:
        return list(self.channels)

    @property
    def hr_platforms(self) -> list[str]:
        return [name for name, ch in self.channels.items() if ch.can_reach_hr()]

    @property
    def sweep_seconds(self) -> float:
        return self.settings.worker.sweep_interval.total_seconds()

    def fx(self, actor: str = "system"):
        from bot.services.fx import Fx

        return Fx(self, actor=actor)

    async def close(self) -> None:
        if self.redis_supervisor is not None:
            self.redis_supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.redis_supervisor
        for channel in self.channels.values():
            await channel.close()
        await self.http.close()
        await self.problems.settled()
        if self.redis is not None:
            await self.redis.aclose()
        for client in self.db_clients:
            await client.close()
        await db.close_db()
        if not self.settings.redis.url:
            # The last process using the embedded server stops it (bot/embedded_redis.py).
            from bot.queue import stop_embedded_redis

            stop_embedded_redis()


def supervise_embedded_redis(rt: Runtime) -> asyncio.Task:
    """Restart the embedded Redis whenever it dies, and wake the sweeper when it is back."""
    from bot.queue import embedded_redis

    server = embedded_redis(rt.settings)
    return asyncio.create_task(server.supervise(on_back=rt.redis_back.set))


async def open_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """The runtime with its resources open and nothing built yet (bot/compose.py builds)."""
    from bot.privacy import private_data_dir

    private_data_dir(settings.data_dir)  # 0700 dir, 0600 files (docs/privacy.md)
    if migrate:
        await db.migrate(settings)
    await db.init_db(settings)
    try:
        redis = await connect(settings)
    except Exception as exc:  # noqa: BLE001 - start anyway: callbacks are still stored
        log.error("Redis unavailable at start-up (%s); jobs will wait for it", exc)
        redis = connect_later(settings)
    timeout = aiohttp.ClientTimeout(total=settings.delivery.http_timeout.total_seconds())
    http = aiohttp.ClientSession(timeout=timeout)
    rt = Runtime(
        settings=settings,
        redis=redis,
        http=http,
        db_clients=db.open_clients(),
        problems=Problems(redis),
    )
    if not settings.redis.url:
        rt.redis_supervisor = supervise_embedded_redis(rt)
    rt.catalog = Catalog(settings.company.language)
    return rt
