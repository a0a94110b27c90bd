"""Aliyun RPC calls, signed: 短信服务 (dysmsapi, API version 2017-05-25).

The signature is Aliyun's RPC signature v1.0 (docs/sms-email.md, "How a request is
signed"): every parameter but `Signature`, sorted by name, names and values
percent-encoded (RFC 3986: only A-Z a-z 0-9 - _ . ~ stay as they are; a space is %20,
never +), joined with & and =; StringToSign = "GET&%2F&" + that string encoded once more;
Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)). Each call has a fresh
SignatureNonce and a UTC Timestamp, so Aliyun can refuse a replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.channels.base import PermanentError, TransientError
from bot.config import SmsSettings
from bot.privacy import scrub

API_VERSION = "2017-05-25"
REGION = "cn-hangzhou"  # dysmsapi answers every region at one endpoint


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8 text, as Aliyun's signature wants it."""
    return quote(value, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def string_to_sign(method: str, params: dict[str, str]) -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def signature(secret: str, method: str, params: dict[str, str]) -> str:
    key = (secret + "&").encode()
    digest = hmac.new(key, string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_params(
    cfg: SmsSettings,
    action: str,
    params: dict[str, str],
    *,
    now: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The full query of one call, `Signature` included."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    query = {
        "Action": action,
        "Version": API_VERSION,
        "Format": "JSON",
        "RegionId": REGION,
        "AccessKeyId": cfg.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **params,
    }
    query["Signature"] = signature(cfg.access_key_secret, "GET", query)
    return query


class AliyunRefusal(PermanentError):
    """Aliyun answered with a `Code` other than OK (kept for the doctor's advice)."""


# Codes that clear up by themselves: flow control and throttling (retry later).
TRANSIENT_PREFIXES = ("isv.BUSINESS_LIMIT_CONTROL", "Throttling", "isp.", "ServiceUnavailable")


async def call(
    http: aiohttp.ClientSession, cfg: SmsSettings, action: str, params: dict[str, str]
) -> dict[str, Any]:
    """One signed GET; the JSON answer when its Code is OK. Raises TransientError (network,
    5xx, flow control) or AliyunRefusal (anything else, with Aliyun's code)."""
    query = canonical_query(signed_params(cfg, action, params))
    url = URL(f"{cfg.api_base_url.rstrip('/')}/?{query}", encoded=True)  # sent as signed
    try:
        async with http.get(url) as resp:
            status = resp.status
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientError(f"Aliyun unreachable: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        if status >= 500 or status == 429:
            raise TransientError(f"Aliyun HTTP {status}")
        raise AliyunRefusal(f"Aliyun HTTP {status}, not JSON", code=f"HTTP{status}")
    code = str(data.get("Code") or "")
    if code == "OK":
        return data
    message = scrub(str(data.get("Message") or ""))[:200]  # it may quote the number
    if code.startswith(TRANSIENT_PREFIXES) or (not code and status >= 500):
        # Retried with the worker's backoff, like a busy chat platform.
        raise TransientError(f"Aliyun {code or status}: {message}")
    raise AliyunRefusal(f"Aliyun refused: {message}", code=code or f"HTTP{status}")
