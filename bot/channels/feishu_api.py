"""The Feishu open API over aiohttp: tenant token, error classification, retries.

Every call goes to `feishu.api_base_url` (a stand-in on loopback in tests). lark-oapi is
not used for HTTP: its `a*` methods fetch tokens with blocking `requests` on the loop.

- The tenant token is cached in Redis for every process, refreshed before it expires
  under a Redis lock (one fetch at a time), and once more when Feishu says it is invalid.
- Errors become `TransientError` (retry later, after `x-ogw-ratelimit-reset` when given)
  or `PermanentError(code)` (recipient out of scope, bot not in chat, invalid card ...).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from redis.exceptions import LockError, RedisError

from bot.channels.base import PermanentError, TransientError

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
# "Invalid/expired access token": fetch a fresh one and try once more.
TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991668})
# Rate limits and "busy": same request later, same uuid.
TRANSIENT_CODES = frozenset({99991400, 230020, 230049})
MAX_JSON_BYTES = 1024 * 1024
MAX_RETRY_AFTER = 3600.0
_REFRESH_MARGIN = 1800  # Feishu hands out a new token once less than 30 min are left


@dataclass(frozen=True)
class Download:
    data: bytes
    content_type: str
    filename: str


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("x-ogw-ratelimit-reset", ""))
    except (TypeError, ValueError):
        return None
    return min(max(value, 0.0), MAX_RETRY_AFTER)


def _code(body: Any) -> int | None:
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def raise_for(status: int, headers: Any, body: Any, what: str) -> None:
    """Turn a Feishu answer into nothing (success) or the matching DeliveryError."""
    code = _code(body)
    msg = str(body.get("msg", ""))[:300] if isinstance(body, dict) else ""
    if status == 429 or code in TRANSIENT_CODES:
        raise TransientError(
            f"feishu {what}: rate limited ({code or status})", _retry_after(headers)
        )
    if status >= 500 or status == 408:
        raise TransientError(f"feishu {what}: HTTP {status}", _retry_after(headers))
    if code in TOKEN_CODES:
        raise TransientError(f"feishu {what}: token refused ({code}) even after a refresh")
    if code == 0 and status < 400:
        return
    if code is None:
        if status < 400:
            raise TransientError(f"feishu {what}: unreadable answer (HTTP {status})")
        raise PermanentError(f"feishu {what}: HTTP {status}", code=f"http_{status}")
    raise PermanentError(f"feishu {what}: {msg or 'refused'}", code=code)


class FeishuApi:
    def __init__(self, rt: Runtime):
        self.rt = rt
        self.cfg = rt.settings.feishu
        self.base = self.cfg.api_base_url.rstrip("/")
        self._token_key = f"offerbot:feishu:{self.cfg.app_id}:tenant_token"
        self._local: tuple[str, float] | None = None  # when Redis is away

    # -- tenant token ---------------------------------------------------------------------

    async def token(self) -> str:
        return await self._cached() or await self._refresh(stale=None)

    async def _cached(self) -> str | None:
        redis = self.rt.redis
        if redis is not None:
            try:
                value = await redis.get(self._token_key)
                return value.decode() if isinstance(value, bytes) else value
            except RedisError as exc:
                log.warning("feishu token cache unavailable (%s)", type(exc).__name__)
        if self._local and self._local[1] > time.time():
            return self._local[0]
        return None

    async def _refresh(self, stale: str | None) -> str:
        """Fetch a new token unless another process already did (single flight)."""
        redis = self.rt.redis
        if redis is None:
            return await self._fetch_and_store()
        lock = redis.lock(self._token_key + ":lock", timeout=15, blocking_timeout=10)
        try:
            acquired = await lock.acquire()
        except (LockError, RedisError):
            acquired = False
        if not acquired:  # Redis trouble or a stuck holder: fetch anyway, tokens overlap
            return await self._fetch_and_store()
        try:
            current = await self._cached()
            if current and current != stale:
                return current
            return await self._fetch_and_store()
        finally:
            try:
                await lock.release()
            except (LockError, RedisError):
                pass  # expired meanwhile: nothing to release

    async def _fetch_and_store(self) -> str:
        body = {"app_id": self.cfg.app_id, "app_secret": self.cfg.app_secret}
        status, headers, answer = await self._json_request("POST", TOKEN_PATH, json_body=body)
        token = answer.get("tenant_access_token") if isinstance(answer, dict) else None
        code = _code(answer)
        if status >= 500 or status in (408, 429) or code in TRANSIENT_CODES:
            raise_for(status, headers, answer, "tenant_access_token")
        if code != 0 or not isinstance(token, str) or not token:
            # A refused app_id/app_secret is a configuration problem: show it on /readyz.
            # Still transient for the outbox: fixing the config and restarting delivers.
            msg = answer.get("msg", "") if isinstance(answer, dict) else f"HTTP {status}"
            problem = (
                f"tenant_access_token refused ({code}: {msg}); "
                "check feishu.app_id, feishu.app_secret and feishu.api_base_url"
            )
            self.rt.problems["feishu"] = problem
            raise TransientError(f"feishu {problem}")
        self.rt.problems.pop("feishu", None)
        expire = answer.get("expire")
        lifetime = expire if isinstance(expire, int) and expire > 0 else 7200
        ttl = max(lifetime - _REFRESH_MARGIN, lifetime // 2, 1)
        self._local = (token, time.time() + ttl)
        if self.rt.redis is not None:
            try:
                await self.rt.redis.set(self._token_key, token, ex=ttl)
            except RedisError as exc:
                log.warning("feishu token not cached (%s)", type(exc).__name__)
        return token

    # -- requests -------------------------------------------------------------------------

    async def _json_request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self.rt.http.request(
                method,
                self.base + path,
                params=params,
                json=json_body,
                data=form() if form else None,
                headers=headers,
            ) as resp:
                raw = await resp.content.read(MAX_JSON_BYTES)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None  # e.g. an HTML 502 page from a proxy
                return resp.status, resp.headers, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"feishu {path}: {type(exc).__name__}") from exc

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """One API call; a refused token is refreshed once. Returns the JSON answer."""
        token = await self.token()
        for attempt in (1, 2):
            status, headers, body = await self._json_request(
                method, path, token=token, params=params, json_body=json_body, form=form
            )
            if _code(body) in TOKEN_CODES and attempt == 1:
                token = await self._refresh(stale=token)
                continue
            raise_for(status, headers, body, path.rsplit("/", 1)[-1] or path)
            return body
        raise AssertionError("unreachable")

    async def download(self, path: str, params: dict[str, str], limit: int) -> Download:
        """A binary resource, at most `limit` bytes (larger → PermanentError)."""
        token = await self.token()
        for attempt in (1, 2):
            try:
                result = await self._download_once(path, params, limit, token)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientError(f"feishu download: {type(exc).__name__}") from exc
            if isinstance(result, Download):
                return result
            status, headers, body = result
            if _code(body) in TOKEN_CODES and attempt == 1:
                token = await self._refresh(stale=token)
                continue
            raise_for(status, headers, body, "download")
            raise PermanentError("feishu download: answered JSON instead of a file")
        raise AssertionError("unreachable")

    async def _download_once(
        self, path: str, params: dict[str, str], limit: int, token: str
    ) -> Download | tuple[int, Any, Any]:
        read_timeout = self.rt.settings.delivery.http_timeout.total_seconds()
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=read_timeout, sock_read=read_timeout
        )
        async with self.rt.http.get(
            self.base + path,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        ) as resp:
            content_type = resp.headers.get("Content-Type", "")
            if resp.status != 200 or content_type.startswith("application/json"):
                raw = await resp.content.read(MAX_JSON_BYTES)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                if resp.status == 200 and not _code(body):
                    # Not an error answer: the file itself is JSON.
                    return Download(raw, "application/json", _filename(resp))
                return resp.status, resp.headers, body
            if resp.content_length is not None and resp.content_length > limit:
                raise PermanentError(f"feishu download: file over {limit} bytes", code="too_large")
            chunks, size = [], 0
            async for chunk in resp.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise PermanentError(
                        f"feishu download: file over {limit} bytes", code="too_large"
                    )
                chunks.append(chunk)
            return Download(b"".join(chunks), content_type.split(";")[0].strip(), _filename(resp))


def _filename(resp: aiohttp.ClientResponse) -> str:
    """From Content-Disposition (filename* or filename), reduced to a safe base name."""
    disposition = resp.content_disposition
    name = disposition.filename if disposition and disposition.filename else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255]
