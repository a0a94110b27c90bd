"""An Aliyun 短信服务 (dysmsapi 2017-05-25) stand-in on 127.0.0.1, for tests.

It checks every request as Aliyun does, with its own code (nothing imported from bot/):
the common parameters (Version, SignatureMethod HMAC-SHA1, SignatureVersion 1.0, a UTC
Timestamp within 15 minutes, a SignatureNonce never seen before), the AccessKeyId, and the
Signature, recomputed from the query it received: every parameter but Signature, sorted,
percent-encoded the Java way (URLEncoder, then + → %20, * → %2A, %7E → ~), StringToSign =
GET&%2F&<encoded>, HMAC-SHA1 with the secret plus "&". Errors answer like Aliyun: HTTP
400/404 with {"Code", "Message", "RequestId"}.

SendSms checks the sign name, the template code and that TemplateParam fills every
variable of the template, and the number (mainland mobile, not one marked invalid);
`fail()` makes the next calls answer a code (isv.BUSINESS_LIMIT_CONTROL, Throttling.User,
...). QuerySmsSign / QuerySmsTemplate answer the approval status (what the doctor asks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from aiohttp import web
from aiohttp.test_utils import TestServer

ACCESS_KEY_ID = "LTAIstandin0001"
ACCESS_KEY_SECRET = "standin-secret-0001"
SIGN_NAME = "示例科技"
TEMPLATE_INVITE = "SMS_100000001"
TEMPLATE_REMINDER = "SMS_100000002"
VARIABLES = ("name", "company", "job", "link")
_MOBILE = re.compile(r"^(?:\+?86|0086)?1[3-9]\d{9}$")


def java_percent_encode(value: str) -> str:
    """Aliyun's documented recipe: form-encode, then fix +, * and ~."""
    return quote_plus(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def expected_signature(secret: str, params: dict[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{java_percent_encode(k)}={java_percent_encode(v)}" for k, v in pairs)
    to_sign = "GET&" + java_percent_encode("/") + "&" + java_percent_encode(canonical)
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def signed_query(params: dict[str, str], secret: str = ACCESS_KEY_SECRET) -> str:
    """A query string signed the stand-in's way (for tests that call it by hand)."""
    full = {**params, "Signature": expected_signature(secret, params)}
    return "&".join(f"{java_percent_encode(k)}={java_percent_encode(v)}" for k, v in full.items())


@dataclass
class Call:
    action: str
    params: dict[str, str]
    code: str  # what the stand-in answered ("OK" or the error code)


@dataclass
class AliyunSmsStandin:
    access_key_id: str = ACCESS_KEY_ID
    access_key_secret: str = ACCESS_KEY_SECRET
    signs: dict[str, int] = field(default_factory=lambda: {SIGN_NAME: 1})  # name → status
    templates: dict[str, int] = field(
        default_factory=lambda: {TEMPLATE_INVITE: 1, TEMPLATE_REMINDER: 1}
    )
    invalid_numbers: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._nonces: set[str] = set()
        self._failures: dict[str, deque[str]] = {}
        self._http_failures: deque[tuple[int, str]] = deque()
        self._ids = itertools.count(1)
        self._server: TestServer | None = None

    async def __aenter__(self) -> AliyunSmsStandin:
        app = web.Application()
        app.router.add_get("/", self._dispatch)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The `[sms]` section that points the bot here."""
        return {
            "enabled": True,
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "sign_name": SIGN_NAME,
            "template_invite": TEMPLATE_INVITE,
            "template_reminder": TEMPLATE_REMINDER,
            "api_base_url": self.url,
            **overrides,
        }

    def fail_http(self, status: int, body: str = "busy") -> None:
        """The next request answers `status` with a plain-text body (a proxy, an outage)."""
        self._http_failures.append((status, body))

    def fail(self, action: str, code: str, *, times: int = 1) -> None:
        self._failures.setdefault(action, deque()).extend([code] * times)

    def sent(self) -> list[dict[str, Any]]:
        """The SMS Aliyun accepted: number, template and its parameters."""
        return [
            {
                "phone": c.params["PhoneNumbers"],
                "template": c.params["TemplateCode"],
                "params": json.loads(c.params["TemplateParam"]),
                "out_id": c.params.get("OutId", ""),
            }
            for c in self.calls
            if c.action == "SendSms" and c.code == "OK"
        ]

    # -- the server -----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        params = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        action = params.get("Action", "")
        if self._http_failures:
            status, text = self._http_failures.popleft()
            self.calls.append(Call(action, params, f"HTTP{status}"))
            return web.Response(status=status, text=text)
        status, code, extra = self._check(params)
        if code == "OK":
            status, code, extra = self._act(action, params)
        self.calls.append(Call(action, params, code))
        body = {"RequestId": f"req-{next(self._ids)}", "Code": code, **extra}
        if code != "OK":
            body.setdefault("Message", code)
        return web.json_response(body, status=status)

    def _check(self, p: dict[str, str]) -> tuple[int, str, dict]:
        if p.get("Version") != "2017-05-25":
            return 400, "InvalidVersion", {}
        if p.get("SignatureMethod") != "HMAC-SHA1" or p.get("SignatureVersion") != "1.0":
            return 400, "InvalidSignatureMethod", {}
        try:
            stamp = datetime.strptime(p.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return 400, "InvalidTimeStamp.Format", {}
        if abs(datetime.now(UTC) - stamp.replace(tzinfo=UTC)) > timedelta(minutes=15):
            return 400, "InvalidTimeStamp.Expired", {}
        if p.get("AccessKeyId") != self.access_key_id:
            return (
                404,
                "InvalidAccessKeyId.NotFound",
                {"Message": "Specified access key is not found."},
            )
        given = p.get("Signature", "")
        if not hmac.compare_digest(given, expected_signature(self.access_key_secret, p)):
            message = "Specified signature is not matched with our calculation."
            return 400, "SignatureDoesNotMatch", {"Message": message}
        nonce = p.get("SignatureNonce", "")
        if not nonce or nonce in self._nonces:
            return 400, "SignatureNonceUsed", {}
        self._nonces.add(nonce)
        return 200, "OK", {}

    def _act(self, action: str, p: dict[str, str]) -> tuple[int, str, dict]:
        queued = self._failures.get(action)
        if queued:
            code = queued.popleft()
            return (400 if code.startswith("Throttling") else 200), code, {"Message": code}
        if action == "SendSms":
            return self._send(p)
        if action == "QuerySmsSign":
            status = self.signs.get(p.get("SignName", ""))
            if status is None:
                return 200, "isv.SMS_SIGN_ILLEGAL", {}
            return 200, "OK", {"SignName": p["SignName"], "SignStatus": status, "Reason": ""}
        if action == "QuerySmsTemplate":
            status = self.templates.get(p.get("TemplateCode", ""))
            if status is None:
                return 200, "isv.SMS_TEMPLATE_ILLEGAL", {}
            return 200, "OK", {"TemplateCode": p["TemplateCode"], "TemplateStatus": status}
        return 400, "InvalidAction.NotFound", {}

    def _send(self, p: dict[str, str]) -> tuple[int, str, dict]:
        if self.signs.get(p.get("SignName", "")) != 1:
            return 200, "isv.SMS_SIGNATURE_ILLEGAL", {}
        if self.templates.get(p.get("TemplateCode", "")) != 1:
            return 200, "isv.SMS_TEMPLATE_ILLEGAL", {}
        try:
            values = json.loads(p.get("TemplateParam", ""))
        except ValueError:
            return 200, "isv.INVALID_JSON_PARAM", {}
        if not isinstance(values, dict) or any(not values.get(v) for v in VARIABLES):
            return 200, "isv.TEMPLATE_MISSING_PARAMETERS", {}
        phone = p.get("PhoneNumbers", "")
        if not _MOBILE.match(phone) or phone in self.invalid_numbers:
            return 200, "isv.MOBILE_NUMBER_ILLEGAL", {}
        return 200, "OK", {"Message": "OK", "BizId": f"biz{next(self._ids)}^0"}
