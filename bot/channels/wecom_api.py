"""A small aiohttp client for WeCom's server API (wechatpy's is sync and ignores its base
URL for gettoken and media).

- Every URL starts at `wecom.api_base_url`, so a stand-in on loopback can answer all of it.
- The access token is cached in Redis for all processes (key per corp id + agent),
  fetched under a Redis lock (SET NX with expiry: no gettoken stampede), kept a little
  less long than `expires_in` says, and refetched ONCE when WeCom calls it invalid
  (40014/42001/42009) — a second refusal is a transient error, never a loop.
- Errors become `TransientError` (busy, rate limits, 5xx, timeouts: try again later) or
  `PermanentError` (will not work as it is). Codes that mean "the setup is wrong" are
  also written to `problems["wecom"]` for /readyz.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp
from redis.exceptions import RedisError

from bot.channels.base import DownloadedFile, PermanentError, TransientError
from bot.config import WecomSettings
from bot.problems import Problems

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40014, 42001, 42009})
# Busy (-1) and rate limits: WeCom says no "when"; the outbox's exponential backoff decides.
TRANSIENT_ERRORS = frozenset({-1, 45009, 45011, 45033})
# errcode → what an operator must fix; recorded for /readyz
GIVE_UP_ERRORS = {
    40001: "the app secret was refused (wecom.secret)",
    40013: "the corp id was refused (wecom.corp_id)",
    60020: "this server's IP is not in the app's 企业可信IP list",
    81013: "the recipient is not in the app's visible range (可见范围)",
}
TOKEN_MARGIN_SECONDS = 300  # refresh this long before WeCom's expires_in runs out
LOCK_SECONDS = 10
LOCK_WAIT_SECONDS = 5.0

# Compare-and-delete: never remove a token or lock another process has just replaced.
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)")
_FILENAME = re.compile(r'filename\s*=\s*"?([^";]+)"?')


class WecomApiError(PermanentError):
    """A refusal with an errcode (kept for callers that treat some codes specially)."""

    def __init__(self, reason: str, code: int):
        super().__init__(reason, code)
        self.errcode = code


def filename_from(disposition: str) -> str:
    """`attachment; filename="offer.pdf"` (or RFC 5987 filename*) → `offer.pdf`."""
    match = _FILENAME_STAR.search(disposition) or _FILENAME.search(disposition)
    if not match:
        return ""
    name = unquote(match.group(1).strip())
    return name.replace("/", "_").replace("\\", "_")[:255]


@dataclass
class _MemoryToken:
    value: str = ""
    expires_at: float = 0.0


class WecomApi:
    def __init__(
        self,
        settings: WecomSettings,
        http: aiohttp.ClientSession,
        redis: Any,
        problems: Problems,
    ):
        self.settings = settings
        self.http = http
        self.redis = redis
        self.problems = problems
        self.base = settings.api_base_url.rstrip("/") + "/cgi-bin/"
        self.token_key = f"offerbot:wecom:token:{settings.corp_id}:{settings.agent_id}"
        self._memory = _MemoryToken()  # only when there is no Redis
        self._memory_lock = asyncio.Lock()

    # -- calls ------------------------------------------------------------------------

    async def call(
        self,
        endpoint: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
        method: str = "POST",
    ) -> dict[str, Any]:
        """One API call with the access token; the answer's JSON when errcode is 0."""
        for attempt in (1, 2):
            token = await self.token()
            query = {**(params or {}), "access_token": token}
            async with self._request(method, endpoint, params=query, json=body) as resp:
                data = await self._json(resp, endpoint)
            code = _errcode(data)
            if code in TOKEN_ERRORS:
                await self.drop_token(token)
                if attempt == 1:
                    log.info("wecom %s: token refused (%s), fetching a new one", endpoint, code)
                    continue
                raise TransientError(f"wecom {endpoint}: access token refused twice ({code})")
            return self.check(data, endpoint)
        raise AssertionError("unreachable")

    async def download(self, media_id: str, max_bytes: int) -> DownloadedFile:
        """media/get: file bytes, or a JSON error body instead of the file (same status).
        A file over `max_bytes` comes back cut at max_bytes + 1 bytes: enough for the
        document checks to tell the candidate it is too large, without holding it all."""
        for attempt in (1, 2):
            token = await self.token()
            query = {"access_token": token, "media_id": media_id}
            async with self._request("GET", "media/get", params=query) as resp:
                content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
                if content_type in ("application/json", "text/plain"):
                    data = await self._json(resp, "media/get")
                else:
                    body = await _read_at_most(resp, max_bytes + 1)
                    name = filename_from(resp.headers.get("Content-Disposition", ""))
                    return DownloadedFile(data=body, filename=name, content_type=content_type)
            code = _errcode(data)
            if code in TOKEN_ERRORS:
                await self.drop_token(token)
                if attempt == 1:
                    continue
                raise TransientError("wecom media/get: access token refused twice")
            self.check(data, "media/get")
            raise PermanentError("wecom media/get answered JSON without an error")
        raise AssertionError("unreachable")

    async def upload(self, kind: str, filename: str, data: bytes, content_type: str) -> str:
        """media/upload (multipart field `media`) → media_id (valid 3 days)."""
        for attempt in (1, 2):
            token = await self.token()
            form = aiohttp.FormData()
            form.add_field("media", data, filename=filename, content_type=content_type)
            query = {"access_token": token, "type": kind}
            async with self._request("POST", "media/upload", params=query, data=form) as resp:
                answer = await self._json(resp, "media/upload")
            code = _errcode(answer)
            if code in TOKEN_ERRORS:
                await self.drop_token(token)
                if attempt == 1:
                    continue
                raise TransientError("wecom media/upload: access token refused twice")
            media_id = self.check(answer, "media/upload").get("media_id")
            if not isinstance(media_id, str) or not media_id:
                raise TransientError("wecom media/upload answered without a media_id")
            return media_id
        raise AssertionError("unreachable")

    async def webhook(self, key: str, payload: dict[str, Any]) -> None:
        """Group robot (no access token: the key is the secret — never logged)."""
        async with self._request("POST", "webhook/send", params={"key": key}, json=payload) as r:
            data = await self._json(r, "webhook/send")
        self.check(data, "webhook/send")

    # -- errors -----------------------------------------------------------------------

    def check(self, data: dict[str, Any], endpoint: str) -> dict[str, Any]:
        code = _errcode(data)
        if code == 0:
            return data
        message = str(data.get("errmsg", ""))[:200]
        if code in TRANSIENT_ERRORS:
            raise TransientError(f"wecom {endpoint}: {code} {message}")
        if code in GIVE_UP_ERRORS:
            problem = f"{code}: {GIVE_UP_ERRORS[code]} (seen on {endpoint})"
            log.error("wecom: %s", problem)
            self.problems["wecom"] = problem
        raise WecomApiError(f"wecom {endpoint}: {code} {message}", code)

    def _request(self, method: str, endpoint: str, **kwargs: Any):
        return _Guarded(self.http.request(method, self.base + endpoint, **kwargs), endpoint)

    @staticmethod
    async def _json(resp: aiohttp.ClientResponse, endpoint: str) -> dict[str, Any]:
        if resp.status >= 500 or resp.status == 429:
            raise TransientError(f"wecom {endpoint}: HTTP {resp.status}")
        if resp.status != 200:
            raise PermanentError(f"wecom {endpoint}: HTTP {resp.status}", resp.status)
        try:
            data = json.loads(await resp.read())
        except ValueError:
            raise TransientError(f"wecom {endpoint}: answer is not JSON") from None
        if not isinstance(data, dict):
            raise TransientError(f"wecom {endpoint}: answer is not a JSON object")
        return data

    # -- access token -----------------------------------------------------------------

    async def token(self) -> str:
        if self.redis is None:
            return await self._memory_token()
        try:
            return await self._shared_token()
        except RedisError as exc:  # the outbox retries; the token is not fetched blindly
            raise TransientError(f"wecom: Redis unavailable for the token ({exc})") from None

    async def _shared_token(self) -> str:
        cached = await self.redis.get(self.token_key)
        if cached:
            return cached.decode() if isinstance(cached, bytes) else str(cached)
        lock_key, owner = self.token_key + ":lock", secrets.token_hex(8)
        if await self.redis.set(lock_key, owner, nx=True, ex=LOCK_SECONDS):
            try:
                # Look again under the lock: a process that held it just before us may
                # have stored a fresh token after our first look (else: a 2nd gettoken).
                cached = await self.redis.get(self.token_key)
                if cached:
                    return cached.decode() if isinstance(cached, bytes) else str(cached)
                value, ttl = await self._fetch_token()
                await self.redis.set(self.token_key, value, ex=ttl)
                return value
            finally:
                await self.redis.eval(_DELETE_IF_EQUAL, 1, lock_key, owner)
        # Another process is fetching: wait for its token rather than asking WeCom too.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            cached = await self.redis.get(self.token_key)
            if cached:
                return cached.decode() if isinstance(cached, bytes) else str(cached)
        raise TransientError("wecom: another process is still fetching the access token")

    async def drop_token(self, token: str) -> None:
        """Forget a refused token — unless another process has already replaced it."""
        if self.redis is None:
            if self._memory.value == token:
                self._memory = _MemoryToken()
            return
        await self.redis.eval(_DELETE_IF_EQUAL, 1, self.token_key, token)

    async def _memory_token(self) -> str:
        loop = asyncio.get_running_loop()
        async with self._memory_lock:
            if not self._memory.value or loop.time() >= self._memory.expires_at:
                value, ttl = await self._fetch_token()
                self._memory = _MemoryToken(value, loop.time() + ttl)
            return self._memory.value

    async def _fetch_token(self) -> tuple[str, int]:
        query = {"corpid": self.settings.corp_id, "corpsecret": self.settings.secret}
        async with self._request("GET", "gettoken", params=query) as resp:
            data = await self._json(resp, "gettoken")
        self.check(data, "gettoken")
        value = data.get("access_token")
        if not isinstance(value, str) or not value:
            raise TransientError("wecom gettoken answered without a token")
        try:
            expires_in = int(data.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires_in = 7200
        ttl = max(1, expires_in - min(TOKEN_MARGIN_SECONDS, expires_in // 10))
        self.problems.discard_if("wecom", TOKEN_PROBLEMS)  # secret and IP work again
        return value, ttl


# Setup problems a successful gettoken proves fixed (refused secret, corp id, IP).
TOKEN_PROBLEMS = ("40001:", "40013:", "60020:")


class _Guarded:
    """`async with` around an aiohttp request that turns network failures into
    TransientError (timeouts, refused connections, resets)."""

    def __init__(self, request_cm: Any, endpoint: str):
        self._cm = request_cm
        self._endpoint = endpoint

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            return await self._cm.__aenter__()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(f"wecom {self._endpoint}: {type(exc).__name__}") from None

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        await self._cm.__aexit__(exc_type, exc, tb)
        if isinstance(exc, TimeoutError | aiohttp.ClientError):  # while reading the body
            raise TransientError(f"wecom {self._endpoint}: {type(exc).__name__}") from None


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _errcode(data: dict[str, Any]) -> int:
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1
