"""Setup problems a channel has seen (a refused secret, an IP not on WeCom's allow-list,
a recipient outside the app's visible range), shown by /readyz under "problems".

The process that sees a problem is often not the one an operator asks: a worker refreshes
the token, `offerbot serve --no-worker` answers /readyz. So a problem is kept here and,
when Redis is there, shared with every process for an hour (`SHARED_FOR`); it is cleared
everywhere as soon as any process sees the thing work again. The expiry bounds a problem
whose process died before it could clear it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

KEY = "offerbot:problem:"
SHARED_FOR = 3600  # seconds


class Problems:
    """A dict of problem texts by channel name; writes also go to Redis in the background
    (channels record problems from synchronous code paths)."""

    def __init__(self, redis: Any = None) -> None:
        self.redis = redis
        self._local: dict[str, str] = {}
        self._own: set[str] = set()  # facts about this process's own config (see `own`)
        self._pending: set[asyncio.Task] = set()

    # -- the dict the channels use ----------------------------------------------------

    def __setitem__(self, name: str, text: str) -> None:
        self._local[name] = text
        self._share(name, text)

    def __getitem__(self, name: str) -> str:
        return self._local[name]

    def __contains__(self, name: object) -> bool:
        return name in self._local

    def own(self, name: str, text: str) -> None:
        """A problem with this process's own configuration (a malformed key): true for
        as long as the process runs, so /readyz shows it whatever Redis says."""
        self[name] = text
        self._own.add(name)

    def pop(self, name: str, default: str | None = None) -> str | None:
        self._share(name, None)  # cleared for every process, seen here or elsewhere
        self._own.discard(name)
        return self._local.pop(name, default)

    def discard_if(self, name: str, prefixes: tuple[str, ...]) -> None:
        """Clear `name` here and everywhere if its text starts with one of `prefixes`
        (e.g. the error codes a successful token fetch proves fixed), whichever process
        recorded it: an operator who fixed the secret and restarted must see it clear."""
        if self._local.get(name, "").startswith(prefixes):
            self._local.pop(name, None)
            self._own.discard(name)
        self._spawn(self._discard_shared(name, prefixes))

    # -- shared with the other processes ----------------------------------------------

    async def everywhere(self, names: list[str]) -> dict[str, str]:
        """The problems of `names` as all processes know them: Redis is the common
        truth (a problem another process saw, or cleared, counts here too); without
        Redis, what this process saw."""
        if self.redis is None or not names:
            return dict(self._local)
        await self.settled()
        try:
            values = await self.redis.mget([KEY + name for name in names])
        except Exception as exc:  # noqa: BLE001 - Redis down shows on /readyz itself
            log.debug("shared problems unavailable: %s", type(exc).__name__)
            return dict(self._local)
        found = {k: v for k, v in self._local.items() if k not in names}
        for name, value in zip(names, values, strict=True):
            if value is not None:
                found[name] = value.decode() if isinstance(value, bytes) else str(value)
        for name in self._own & self._local.keys():
            found[name] = self._local[name]
        return found

    async def settled(self) -> None:
        """Wait for the background writes (tests; /readyz right after a change)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _share(self, name: str, text: str | None) -> None:
        self._spawn(self._write(name, text))

    def _spawn(self, write) -> None:
        if self.redis is None:
            write.close()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): this process only
            write.close()
            return
        task = loop.create_task(write)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _discard_shared(self, name: str, prefixes: tuple[str, ...]) -> None:
        try:
            value = await self.redis.get(KEY + name)
            text = value.decode() if isinstance(value, bytes) else (value or "")
            if text.startswith(prefixes):
                await self.redis.delete(KEY + name)
        except Exception as exc:  # noqa: BLE001 - expires by itself
            log.debug("could not clear shared problem %s: %s", name, type(exc).__name__)

    async def _write(self, name: str, text: str | None) -> None:
        try:
            if text is None:
                await self.redis.delete(KEY + name)
            else:
                await self.redis.set(KEY + name, text, ex=SHARED_FOR)
        except Exception as exc:  # noqa: BLE001 - this process still shows it
            log.debug("could not share problem %s: %s", name, type(exc).__name__)
