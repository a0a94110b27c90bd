"""The Redis lease that lets exactly one process hold a bot's connection.

`SET key token NX PX lease` takes it; the holder renews it every third of the lease and
gives it back on a clean stop, both only while the key still holds its own token (one
Lua script each: compare-and-expire, compare-and-delete), so a holder that stalled past
its lease can never renew or delete the lease a standby has taken since. A holder that
dies simply stops renewing: the key expires and the first standby to poll takes it —
within `lease` plus one poll (a third of the lease).
"""

from __future__ import annotations

import secrets
from typing import Any

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
