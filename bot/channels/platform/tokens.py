"""One access-token cache for every platform client.

- The token lives in Redis for every process (`key`), kept a little shorter than the
  platform says, and in this process's memory as well.
- A refresh is single-flight twice over: one coroutine per process fetches (an asyncio
  lock), and one process at a time (a Redis lock: SET NX with expiry, released by
  compare-and-delete). A process that finds the lock taken waits for the other's token.
- When Redis is down, or missing, or the lock holder seems stuck: fetch anyway, still one
  fetch per process at a time. Both platforms hand out the same or an overlapping token
  while one is valid, so a second fetch is harmless; a send that fails because a cache
  is away would not be (docs/redis.md: Redis is a cache, never a reason to stop).
- A token the platform refuses is dropped (`refused`), only if nobody replaced it yet.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Compare-and-delete: never remove a token or lock another process has just replaced.
DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # → (token, seconds to keep it)


def _text(value: Any) -> str | None:
    if not value:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class TokenCache:
    def __init__(
        self,
        redis: Any,
        key: str,
        fetch: Fetch,
        *,
        lock_seconds: int = 15,
        wait_seconds: float = 10.0,
    ):
        self.redis = redis  # None: this process alone
        self.key = key
        self._fetch = fetch
        self.lock_seconds = lock_seconds
        self.wait_seconds = wait_seconds
        self._local: tuple[str, float] | None = None  # (token, monotonic expiry)
        self._flight = asyncio.Lock()

    async def get(self) -> str:
        """A valid-looking token: cached, else fetched (see the module doc)."""
        return await self._cached() or await self.refresh()

    async def refresh(self, stale: str | None = None) -> str:
        """A token other than `stale`: one another coroutine or process fetched
        meanwhile, else a new one."""
        async with self._flight:
            current = await self._cached()
            if current and current != stale:
                return current
            return await self._fetch_shared(stale)

    async def refused(self, token: str) -> None:
        """The platform called `token` invalid: forget it here and in Redis."""
        if self._local and self._local[0] == token:
            self._local = None
        if self.redis is None:
            return
        try:
            await self.redis.eval(DELETE_IF_EQUAL, 1, self.key, token)
        except RedisError as exc:
            log.warning("token cache %s: not dropped in Redis (%s)", self.key, type(exc).__name__)

    # -- inside ----------------------------------------------------------------------

    async def _cached(self) -> str | None:
        if self.redis is not None:
            try:
                value = _text(await self.redis.get(self.key))
            except RedisError as exc:
                log.warning("token cache %s unavailable (%s)", self.key, type(exc).__name__)
            else:
                if value:
                    return value
        if self._local and self._local[1] > time.monotonic():
            return self._local[0]
        return None

    async def _fetch_shared(self, stale: str | None) -> str:
        redis = self.redis
        if redis is None:
            return await self._fetch_and_store()
        lock_key, owner = self.key + ":lock", secrets.token_hex(8)
        try:  # SET NX answers None when the lock is taken
            acquired = bool(await redis.set(lock_key, owner, nx=True, ex=self.lock_seconds))
        except RedisError:
            return await self._fetch_and_store()  # Redis down: fetch anyway (module doc)
        if not acquired:
            waited = await self._wait_for_other(stale)
            if waited:
                return waited
            log.warning("token cache %s: lock holder is slow, fetching anyway", self.key)
            return await self._fetch_and_store()
        try:
            # Look again under the lock: a process that held it just before us may have
            # stored a fresh token after our first look (else: a second fetch).
            current = await self._cached()
            if current and current != stale:
                return current
            return await self._fetch_and_store()
        finally:
            try:
                await redis.eval(DELETE_IF_EQUAL, 1, lock_key, owner)
            except RedisError:
                pass  # expires by itself

    async def _wait_for_other(self, stale: str | None) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            current = await self._cached()
            if current and current != stale:
                return current
        return None

    async def _fetch_and_store(self) -> str:
        token, ttl = await self._fetch()
        self._local = (token, time.monotonic() + ttl)
        if self.redis is not None:
            try:
                await self.redis.set(self.key, token, ex=ttl)
            except RedisError as exc:
                log.warning("token cache %s: not stored (%s)", self.key, type(exc).__name__)
        return token
