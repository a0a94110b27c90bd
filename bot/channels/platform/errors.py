"""One classification of platform errors, and the guard that turns network trouble into it.

Every answer a platform gives falls into one of three kinds:
- `TRANSIENT` — busy, rate limited, 5xx, 408/429, timeouts: the outbox tries again later;
- `AUTH` — the access token was refused: fetch a new one and try once more (a second
  refusal is transient, never a loop);
- `PERMANENT` — will not work as it is (recipient out of scope, bad request).
Each client describes its own codes with an `ErrorCodes` table; the kind decides.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.base import TransientError


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    AUTH = "auth"


@dataclass(frozen=True)
class ErrorCodes:
    """A platform's error codes by kind; any other non-zero code is permanent."""

    auth: frozenset[int]
    transient: frozenset[int]
    ok: int = 0

    def kind(self, code: int | None) -> ErrorKind | None:
        """None for success; otherwise the kind of the code."""
        if code == self.ok:
            return None
        if code in self.auth:
            return ErrorKind.AUTH
        if code in self.transient:
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT


def http_kind(status: int) -> ErrorKind | None:
    """The kind an HTTP status says by itself (None: look at the body)."""
    if status >= 500 or status in (408, 429):
        return ErrorKind.TRANSIENT
    if status >= 400:
        return ErrorKind.PERMANENT
    return None


class Rejected(Exception):
    """A callback we refuse: `status` is the HTTP answer (4xx), `reason` a short text.
    Raised by every platform's verification code, answered by the HTTP edge."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Guarded:
    """`async with` around an aiohttp request that turns network failures (timeouts,
    refused connections, resets, also while the body is read) into TransientError."""

    def __init__(self, request_cm: Any, what: str):
        self._cm = request_cm
        self._what = what

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            return await self._cm.__aenter__()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(f"{self._what}: {type(exc).__name__}") from None

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        await self._cm.__aexit__(exc_type, exc, tb)
        if isinstance(exc, TimeoutError | aiohttp.ClientError):  # while reading the body
            raise TransientError(f"{self._what}: {type(exc).__name__}") from None
