"""Redis for arq: a configured server, or the embedded one under data_dir
(bot/embedded_redis.py), and the two queues (see docs/redis.md).

- QUEUE_NAME: fresh work — inbound events and timers;
- DELIVERY_QUEUE: outbox sends queued for later, and every retry of a send.

Each queue has a worker with job slots of its own (bot/worker.py), so retries piling up
against an unreachable platform never delay a new inbound event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job

from bot.config import Settings
from bot.embedded_redis import EmbeddedRedis

log = logging.getLogger(__name__)

QUEUE_NAME = "offerbot:queue"
DELIVERY_QUEUE = "offerbot:deliveries"
QUEUES = (QUEUE_NAME, DELIVERY_QUEUE)


def queue_for(function: str) -> str:
    return DELIVERY_QUEUE if function == "deliver" else QUEUE_NAME


_embedded: dict[str, EmbeddedRedis] = {}
_EXPIRES_MS = 86_400_000  # arq's default: a job not started within a day is dropped

# KEYS: queue, then (job key, result key) per job; ARGV: now_ms, expires_ms, then
# (job id, serialized job, score = when to run in ms) per job. Same effect as arq's
# enqueue_job (a deferred job's key lives its delay longer), once per batch.
_ENQUEUE_MANY = """
local added = 0
for i = 0, (#KEYS - 1) / 2 - 1 do
  local job_key, result_key = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  if redis.call('EXISTS', job_key, result_key) == 0 then
    local score = tonumber(ARGV[5 + 3 * i])
    local delay = math.max(score - tonumber(ARGV[1]), 0)
    redis.call('PSETEX', job_key, delay + tonumber(ARGV[2]), ARGV[4 + 3 * i])
    redis.call('ZADD', KEYS[1], score, ARGV[3 + 3 * i])
    added = added + 1
  end
end
return added
"""


def embedded_redis_path(settings: Settings) -> Path:
    return settings.data_dir.resolve()


def embedded_redis(settings: Settings) -> EmbeddedRedis:
    """This process's handle on the embedded server of `settings.data_dir`."""
    key = str(embedded_redis_path(settings))
    if key not in _embedded:
        _embedded[key] = EmbeddedRedis(Path(key))
    return _embedded[key]


def start_embedded_redis(settings: Settings) -> str:
    """Start (or join) the embedded Redis; returns its unix socket path once it answers
    PING (bot/embedded_redis.py raises EmbeddedRedisError, with its log, if it never does)."""
    server = embedded_redis(settings)
    if not server.in_use:
        server.start()
    return server.socket_file


def stop_embedded_redis() -> None:
    """Leave the embedded servers this process uses; each stops unless another process
    (a second worker on the same data_dir) still uses it."""
    for key, server in list(_embedded.items()):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - stopping must not hide the real exit reason
            log.exception("stopping the embedded Redis at %s failed", key)
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
    return f"embedded ({embedded_redis(settings).socket_file})"


async def connect(settings: Settings) -> ArqRedis:
    return await create_pool(redis_settings(settings), default_queue_name=QUEUE_NAME)


def connect_later(settings: Settings) -> ArqRedis | None:
    """A client for a Redis that is down now: it connects on first use, so enqueueing and
    /readyz recover by themselves when Redis is back (create_pool insists on a ping
    first). For the embedded Redis: its socket, where the supervisor starts it again.
    None for a sentinel setup."""
    if not settings.redis.url:
        return ArqRedis(
            unix_socket_path=embedded_redis(settings).socket_file,
            socket_connect_timeout=2,
            encoding="utf8",
            default_queue_name=QUEUE_NAME,
        )
    rs = redis_settings(settings)
    if rs.sentinel:
        return None
    return ArqRedis(
        host=rs.host,
        port=rs.port,
        unix_socket_path=rs.unix_socket_path,
        socket_connect_timeout=rs.conn_timeout,
        ssl=rs.ssl,
        db=rs.database,
        username=rs.username,
        password=rs.password,
        encoding="utf8",
        default_queue_name=QUEUE_NAME,
    )


class Enqueuer:
    """Enqueue with deterministic job ids, so the same work is never queued twice.

    Failures are logged, not raised: the database row is the truth and the sweeper
    re-enqueues whatever Redis lost or never got.
    """

    def __init__(self, redis: ArqRedis | None, clock: Callable[[], datetime] | None = None):
        self.redis = redis
        self.clock = clock

    def _wall(self, at: datetime | None) -> datetime | None:
        """`at` is a moment on the runtime's clock; arq defers by the wall clock. The same
        in production; not when the runtime's clock was moved (tests) — then a job is due
        when the runtime says so, as the sweeper decides (docs/redis.md)."""
        if at is None or self.clock is None:
            return at
        return datetime.now(UTC) + (at - self.clock())

    async def enqueue(self, function: str, *args: Any, job_id: str, at: datetime | None = None):
        if self.redis is None:
            return None
        try:
            return await self.redis.enqueue_job(
                function,
                *args,
                _job_id=job_id,
                _defer_until=self._wall(at),
                _queue_name=queue_for(function),
            )
        except Exception as exc:  # noqa: BLE001 - Redis down: the sweeper will catch up
            log.warning(
                "enqueue %s failed (%s); the sweeper will retry", job_id, type(exc).__name__
            )
            return None

    async def many(self, function: str, jobs: list[tuple[Any, ...]]) -> int:
        """Enqueue many jobs in ONE Redis round trip, with arq's own job format and the same
        uniqueness rule (a job id that is queued, running or has a result is skipped).
        Each job is `(job_id, args)` or `(job_id, args, at)` to defer it until `at`."""
        if self.redis is None or not jobs:
            return 0
        now_ms = int(time.time() * 1000)
        keys: list[str] = [queue_for(function)]
        argv: list[Any] = [now_ms, _EXPIRES_MS]
        for job_id, args, *when in jobs:
            at = self._wall(when[0]) if when else None
            score = max(now_ms, int(at.timestamp() * 1000)) if at is not None else now_ms
            keys += [job_key_prefix + job_id, result_key_prefix + job_id]
            argv += [job_id, serialize_job(function, args, {}, None, now_ms), score]
        try:
            return int(await self.redis.eval(_ENQUEUE_MANY, len(keys), *keys, *argv))
        except Exception as exc:  # noqa: BLE001 - Redis down: the sweeper will catch up
            log.warning("batch enqueue of %d failed (%s)", len(jobs), type(exc).__name__)
            return 0

    async def inbound(self, inbound_id: int):
        return await self.enqueue("process_inbound", inbound_id, job_id=f"inbound:{inbound_id}")

    async def deliver(self, outbox_id: int, at: datetime | None = None):
        return await self.enqueue("deliver", outbox_id, job_id=f"deliver:{outbox_id}", at=at)

    async def timer(self, timer_id: int, at: datetime | None = None):
        return await self.enqueue("fire_timer", timer_id, job_id=f"timer:{timer_id}", at=at)
