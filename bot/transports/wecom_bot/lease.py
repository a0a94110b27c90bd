"""The Redis lease that lets exactly one process hold a bot's connection.

`SET key token NX PX lease` takes it; the holder renews it every third of the lease and
gives it back on a clean stop, both only while the key still holds its own token (one
Lua script each: compare-and-expire, compare-and-delete), so a holder that stalled past
its lease can never renew or delete the lease a standby has taken since. A holder that
dies simply stops renewing: the key expires and the first standby to poll takes it —
within `lease` plus one poll (a third of the lease).

The renewal runs in a thread of its own with a Redis connection of its own (`Renewer`),
so it never waits for the event loop: a long handler, a slow callback or a burst of work
on the loop cannot make the holder lose its lease while it still holds the connection.
What it does wait for is a sign of life from the loop (`Renewer.alive`, called by the
transport every third of the lease): a loop that has shown none for `STALL_LEASES`
leases (60 s by default: two of WeCom's 30 s heartbeats, after which the connection is
as good as dead) gets no more renewals, so a wedged process lets go as a dead one would.
See docs/long-connections.md.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import RedisError

STALL_LEASES = 4  # leases without a sign of life from the event loop before renewals stop

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, redis: Any, key: str, seconds: float):
        self.redis, self.key = redis, key
        self.ms = max(int(seconds * 1000), 100)
        self.token = secrets.token_hex(16)

    @property
    def every(self) -> float:
        """How often the holder renews and a standby polls (seconds)."""
        return self.ms / 3000

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ms))

    async def renew(self) -> bool:
        """True while the lease is still ours (and now good for another `lease`)."""
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ms))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)


def sync_client(client: Any, timeout: float) -> redis.Redis | None:
    """A blocking client for the Redis `client` (an asyncio one) talks to, for a thread;
    None when its connections cannot be copied (a Sentinel pool)."""
    pool = getattr(client, "connection_pool", None)
    name = getattr(pool, "connection_class", type(None)).__name__
    cls = getattr(redis.connection, name, None)
    if pool is None or cls is None or "Sentinel" in name:
        return None
    kwargs = dict(pool.connection_kwargs)
    for key in ("retry", "redis_connect_func", "credential_provider"):
        kwargs.pop(key, None)  # asyncio objects; a single try per renewal is the point
    kwargs["socket_timeout"] = timeout
    kwargs["socket_connect_timeout"] = timeout
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=cls, **kwargs))


class Renewer:
    """Renews `lease` every third of it from a daemon thread until `stop()`, or until the
    lease is lost: taken by another process, Redis unreachable for a whole lease, or no
    sign of life from the event loop for STALL_LEASES leases. `lost(reason)` is then
    called on the event loop, once."""

    def __init__(self, lease: Lease, lost: Callable[[str], None]):
        self.lease, self._lost = lease, lost
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._alive_at = time.monotonic()
        self._client = sync_client(lease.redis, timeout=lease.every)
        self._thread: threading.Thread | None = None

    @property
    def threaded(self) -> bool:
        return self._client is not None

    def alive(self) -> None:
        """The event loop is running (called from it)."""
        self._alive_at = time.monotonic()

    def start(self) -> None:
        if self._client is None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{self.lease.key}", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        """Stop renewing; returns once the thread has sent its last renewal (so a
        release after this is the last word)."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, self.lease.every * 2 + 1)
        if self._client is not None:
            self._client.close()

    def _run(self) -> None:
        assert self._client is not None
        lease, ms = self.lease, self.lease.ms
        held_since = time.monotonic()  # when the lease was last set to a full length
        while not self._stop.wait(lease.every):
            stalled = time.monotonic() - self._alive_at
            if stalled > STALL_LEASES * ms / 1000:
                self._give_up(f"the event loop has not run for {stalled:.0f} s")
                return
            sent = time.monotonic()
            try:
                ours = self._client.eval(_RENEW, 1, lease.key, lease.token, ms)
            except (RedisError, OSError):
                if time.monotonic() - held_since > ms / 1000:
                    self._give_up("cannot renew the lease (Redis)")
                    return
                continue
            if not ours:
                self._give_up("lost the connection lease")
                return
            held_since = sent

    def _give_up(self, reason: str) -> None:
        if self._stop.is_set():
            return
        try:
            self._loop.call_soon_threadsafe(self._lost, reason)
        except RuntimeError:  # the loop is closed: the process is ending anyway
            pass
