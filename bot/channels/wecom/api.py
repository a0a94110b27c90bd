"""A small aiohttp client for WeCom's server API (wechatpy's is sync and ignores its base
URL for gettoken and media).

- Every URL starts at `wecom.api_base_url`, so a stand-in on loopback can answer all of it.
- The access token (key per corp id + agent) is kept by the shared token cache
  (bot/channels/platform/tokens.py: Redis for all processes, single-flight refresh, a
  fetch anyway when Redis is down), a little less long than `expires_in` says, and
  refetched ONCE when WeCom calls it invalid (40014/42001/42009) — a second refusal is a
  transient error, never a loop.
- Errors are classified by the shared kinds (bot/channels/platform/errors.py) into
  `TransientError` (busy, rate limits, 5xx, timeouts: try again later) or
  `PermanentError` (will not work as it is). Codes that mean "the setup is wrong" are
  also written to `problems["wecom"]` for /readyz.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import unquote

import aiohttp

from bot.channels.base import DownloadedFile, PermanentError, TransientError
from bot.channels.platform.download import read_limited
from bot.channels.platform.errors import ErrorCodes, ErrorKind, Guarded, http_kind
from bot.channels.platform.tokens import TokenCache
from bot.config import WecomSettings
from bot.problems import Problems

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40014, 42001, 42009})
# Busy (-1) and rate limits: WeCom says no "when"; the outbox's exponential backoff decides.
TRANSIENT_ERRORS = frozenset({-1, 45009, 45011, 45033})
CODES = ErrorCodes(auth=TOKEN_ERRORS, transient=TRANSIENT_ERRORS)
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
        self.problems = problems
        self.base = settings.api_base_url.rstrip("/") + "/cgi-bin/"
        self.tokens = TokenCache(
            redis,
            f"offerbot:wecom:token:{settings.corp_id}:{settings.agent_id}",
            self._fetch_token,
            lock_seconds=LOCK_SECONDS,
            wait_seconds=LOCK_WAIT_SECONDS,
        )

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
            if CODES.kind(code) is ErrorKind.AUTH:
                await self.tokens.refused(token)
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
                    body = await read_limited(resp, max_bytes)
                    name = filename_from(resp.headers.get("Content-Disposition", ""))
                    return DownloadedFile(data=body, filename=name, content_type=content_type)
            if CODES.kind(_errcode(data)) is ErrorKind.AUTH:
                await self.tokens.refused(token)
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
            if CODES.kind(_errcode(answer)) is ErrorKind.AUTH:
                await self.tokens.refused(token)
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
        kind = CODES.kind(code)
        if kind is None:
            return data
        message = str(data.get("errmsg", ""))[:200]
        if kind is ErrorKind.TRANSIENT:
            raise TransientError(f"wecom {endpoint}: {code} {message}")
        if code in GIVE_UP_ERRORS:
            problem = f"{code}: {GIVE_UP_ERRORS[code]} (seen on {endpoint})"
            log.error("wecom: %s", problem)
            self.problems["wecom"] = problem
        raise WecomApiError(f"wecom {endpoint}: {code} {message}", code)

    def _request(self, method: str, endpoint: str, **kwargs: Any):
        request = self.http.request(method, self.base + endpoint, **kwargs)
        return Guarded(request, f"wecom {endpoint}")

    @staticmethod
    async def _json(resp: aiohttp.ClientResponse, endpoint: str) -> dict[str, Any]:
        kind = http_kind(resp.status)
        if kind is ErrorKind.TRANSIENT:
            raise TransientError(f"wecom {endpoint}: HTTP {resp.status}")
        if kind is not None or resp.status != 200:
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
        return await self.tokens.get()

    async def drop_token(self, token: str) -> None:
        """Forget a refused token — unless another process has already replaced it."""
        await self.tokens.refused(token)

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


def _errcode(data: dict[str, Any]) -> int:
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1
