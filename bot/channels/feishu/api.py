"""The Feishu open API over aiohttp: tenant token, error classification, retries.

Every call goes to `feishu.api_base_url` (a stand-in on loopback in tests). lark-oapi is
not used for HTTP: its `a*` methods fetch tokens with blocking `requests` on the loop.

- The tenant token is kept by the shared token cache (bot/channels/platform/tokens.py:
  Redis for every process, single-flight refresh, a fetch anyway when Redis is down),
  refreshed before it expires and once more when Feishu says it is invalid.
- Errors are classified by the shared kinds (bot/channels/platform/errors.py) into
  `TransientError` (retry later, after `x-ogw-ratelimit-reset` when given) or
  `PermanentError(code)` (recipient out of scope, bot not in chat, invalid card ...).
- Downloads stop one byte past the limit (bot/channels/platform/download.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.base import PermanentError, TransientError
from bot.channels.platform.download import read_limited
from bot.channels.platform.errors import ErrorCodes, ErrorKind, Guarded, http_kind
from bot.channels.platform.tokens import TokenCache
from bot.config import FeishuSettings
from bot.problems import Problems

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
# "Invalid/expired access token": fetch a fresh one and try once more.
TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991668})
# Rate limits and "busy": same request later, same uuid.
TRANSIENT_CODES = frozenset({99991400, 230020, 230049})
CODES = ErrorCodes(auth=TOKEN_CODES, transient=TRANSIENT_CODES)
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
    kind, by_status = CODES.kind(code), http_kind(status)
    msg = str(body.get("msg", ""))[:300] if isinstance(body, dict) else ""
    if status == 429 or kind is ErrorKind.TRANSIENT:
        raise TransientError(
            f"feishu {what}: rate limited ({code or status})", _retry_after(headers)
        )
    if by_status is ErrorKind.TRANSIENT:
        raise TransientError(f"feishu {what}: HTTP {status}", _retry_after(headers))
    if kind is ErrorKind.AUTH:
        raise TransientError(f"feishu {what}: token refused ({code}) even after a refresh")
    if kind is None and by_status is None:
        return
    if code is None:
        if by_status is None:
            raise TransientError(f"feishu {what}: unreadable answer (HTTP {status})")
        raise PermanentError(f"feishu {what}: HTTP {status}", code=f"http_{status}")
    raise PermanentError(f"feishu {what}: {msg or 'refused'}", code=code)


class FeishuApi:
    def __init__(
        self,
        cfg: FeishuSettings,
        http: aiohttp.ClientSession,
        redis: Any,
        problems: Problems,
        *,
        read_timeout: float,
    ):
        self.cfg = cfg
        self.http = http
        self.problems = problems
        self.read_timeout = read_timeout  # per read of a download (no total: files vary)
        self.base = cfg.api_base_url.rstrip("/")
        self.tokens = TokenCache(redis, f"offerbot:feishu:{cfg.app_id}:tenant_token", self._fetch)

    # -- tenant token ---------------------------------------------------------------------

    async def token(self) -> str:
        return await self.tokens.get()

    async def _fetch(self) -> tuple[str, int]:
        body = {"app_id": self.cfg.app_id, "app_secret": self.cfg.app_secret}
        status, headers, answer = await self._json_request("POST", TOKEN_PATH, json_body=body)
        token = answer.get("tenant_access_token") if isinstance(answer, dict) else None
        code = _code(answer)
        if http_kind(status) is ErrorKind.TRANSIENT or CODES.kind(code) is ErrorKind.TRANSIENT:
            raise_for(status, headers, answer, "tenant_access_token")
        if code != 0 or not isinstance(token, str) or not token:
            # A refused app_id/app_secret is a configuration problem: show it on /readyz.
            # Still transient for the outbox: fixing the config and restarting delivers.
            msg = answer.get("msg", "") if isinstance(answer, dict) else f"HTTP {status}"
            problem = (
                f"tenant_access_token refused ({code}: {msg}); "
                "check feishu.app_id, feishu.app_secret and feishu.api_base_url"
            )
            self.problems["feishu"] = problem
            raise TransientError(f"feishu {problem}")
        self.problems.pop("feishu", None)
        expire = answer.get("expire")
        lifetime = expire if isinstance(expire, int) and expire > 0 else 7200
        return token, max(lifetime - _REFRESH_MARGIN, lifetime // 2, 1)

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
        request = self.http.request(
            method,
            self.base + path,
            params=params,
            json=json_body,
            data=form() if form else None,
            headers=headers,
        )
        async with Guarded(request, f"feishu {path}") as resp:
            raw = await resp.content.read(MAX_JSON_BYTES)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None  # e.g. an HTML 502 page from a proxy
            return resp.status, resp.headers, body

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
            if CODES.kind(_code(body)) is ErrorKind.AUTH and attempt == 1:
                token = await self.tokens.refresh(stale=token)
                continue
            raise_for(status, headers, body, path.rsplit("/", 1)[-1] or path)
            return body
        raise AssertionError("unreachable")

    async def download(self, path: str, params: dict[str, str], limit: int) -> Download:
        """A binary resource; one over `limit` bytes comes back cut at limit + 1 bytes
        (bot/channels/platform/download.py: the document checks refuse it)."""
        token = await self.token()
        for attempt in (1, 2):
            result = await self._download_once(path, params, limit, token)
            if isinstance(result, Download):
                return result
            status, headers, body = result
            if CODES.kind(_code(body)) is ErrorKind.AUTH and attempt == 1:
                token = await self.tokens.refresh(stale=token)
                continue
            raise_for(status, headers, body, "download")
            raise PermanentError("feishu download: answered JSON instead of a file")
        raise AssertionError("unreachable")

    async def _download_once(
        self, path: str, params: dict[str, str], limit: int, token: str
    ) -> Download | tuple[int, Any, Any]:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.read_timeout, sock_read=self.read_timeout
        )
        request = self.http.get(
            self.base + path,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        async with Guarded(request, "feishu download") as resp:
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
            data = await read_limited(resp, limit)
            return Download(data, content_type.split(";")[0].strip(), _filename(resp))


def _filename(resp: aiohttp.ClientResponse) -> str:
    """From Content-Disposition (filename* or filename), reduced to a safe base name."""
    disposition = resp.content_disposition
    name = disposition.filename if disposition and disposition.filename else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255]
