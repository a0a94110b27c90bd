"""Hostile input on every HTTP endpoint (SPEC §4 "Bad input gets a clear answer").

One app with every channel on (WeCom and Feishu pointed at their stand-ins, the playground
behind the API token) is hit with forged, stale, malformed, oversized and hostile requests.
Proven here:
- the route table below covers every route the app's router has (a new route without
  hostile-input cases fails `test_every_route_has_hostile_cases`);
- each refused request gets the 4xx it should, never a 5xx; nothing from an unverified
  request is stored (inbound_event rows are counted); every table is still there; XML
  external entities and `${jndi:...}` never reach the network (a loopback listener counts
  connections); /healthz and /readyz stay 200 after the barrage;
- hostile text inside properly signed messages (SQL, format strings, templates, unicode
  edge cases, very long text) from a candidate and from HR, and as ATS names, is stored
  and answered politely: the worker finishes every event, the answers never show an
  evaluated template.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise

from bot.app import build_app
from bot.storage.models import InboundEvent, Outbox
from tests.helpers import API_TOKEN, auth, drain, wait_for
from tests.standins.feishu import FeishuSender, FeishuStandin
from tests.standins.wecom import CallbackSigner, running_standin, text_xml

VTOKEN = "hostile-vtoken"
EKEY = "hostile-encrypt-key"
LIMIT_KB = 64  # webhook body limit for this app (the default is 1 MB; same code path)
UPLOAD_MB = 0.25

# Text that must stay text: SQL, format strings, template engines, log4j lookups.
INJECTIONS = (
    "'; DROP TABLE candidate; --",
    "{0.__class__}",
    "{name.__init__.__globals__}",
    "${jndi:ldap://127.0.0.1:%(port)d/x}",
    "{{7*7777}}",
    "${7*7777}",
    "#{7*7777}",
    "<%= 7*7777 %>",
    "%s%n%x%d",
    "{{7*7}}",
)
# Signs that a template or format string was evaluated (7*7777 = 54439).
EVALUATED = ("54439", "<class", "__globals__':", "built-in", "function ")
UNICODE = (
    "\u202eevil\u202c RTL override",
    "zero\u200bwidth\u200d\ufeffjoiner",
    "emoji 👩‍👩‍👧‍👦 𠀋 😀",
    "combining e\u0301\u0301\u0301\u0301",
)


# -- a loopback listener that must never be called ---------------------------------------


@dataclass
class Listener:
    port: int = 0
    connections: list[bytes] = field(default_factory=list)
    server: asyncio.base_events.Server | None = None

    async def _handle(self, reader, writer) -> None:
        try:
            self.connections.append(await asyncio.wait_for(reader.read(1024), 1))
        except TimeoutError:
            self.connections.append(b"")
        writer.close()


async def _counted(spy: Listener) -> bool:
    return bool(spy.connections)


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    spy = Listener()
    spy.server = await asyncio.start_server(spy._handle, "127.0.0.1", 0)
    spy.port = spy.server.sockets[0].getsockname()[1]
    # The spy itself works: a connection is counted (then forgotten).
    _, writer = await asyncio.open_connection("127.0.0.1", spy.port)
    writer.write(b"GET /probe HTTP/1.0\r\n\r\n")
    await writer.drain()
    writer.close()
    await wait_for(lambda: _counted(spy), timeout=5)
    spy.connections.clear()
    yield spy
    spy.server.close()
    await spy.server.wait_closed()


# -- the app with everything on ----------------------------------------------------------


@dataclass
class Env:
    client: TestClient
    rt: Any
    wecom: Any
    feishu: FeishuStandin
    signer: CallbackSigner
    sender: FeishuSender

    async def callback_text(self, user: str, text: str) -> Any:
        """A text message from `user`, encrypted and signed as WeCom sends it."""
        query, body = self.signer.post(text_xml(user, text))
        return await self.client.post("/wecom/callback", params=query, data=body)


@pytest.fixture
async def env(settings_factory, make_runtime) -> AsyncIterator[Env]:
    async with running_standin() as wecom, FeishuStandin() as feishu:
        settings = settings_factory(
            wecom=wecom.settings(),
            feishu={
                "enabled": True,
                "app_id": feishu.app_id,
                "app_secret": feishu.app_secret,
                "verification_token": VTOKEN,
                "encrypt_key": EKEY,
                "api_base_url": feishu.url,
                "hr_chat_id": "oc_hr",
            },
            # Reachable from outside: the playground wants the API token.
            server={"host": "0.0.0.0", "port": 0, "max_body_kb": LIMIT_KB},
            storage={"max_document_mb": UPLOAD_MB},
        )
        rt = await make_runtime(settings)
        async with TestClient(TestServer(build_app(rt))) as client:
            sender = FeishuSender(app_id=feishu.app_id, verification_token=VTOKEN, encrypt_key=EKEY)
            yield Env(client, rt, wecom, feishu, CallbackSigner(), sender)


# -- hostile bodies ------------------------------------------------------------------------


def billion_laughs(root: str = "xml", tag: str = "Encrypt") -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [{"".join(levels)}]>'
        f"<{root}><{tag}>&lol9;</{tag}></{root}>"
    ).encode()


def quadratic_blowup(root: str = "xml", tag: str = "Encrypt") -> bytes:
    entity = "A" * 20_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY a "{entity}">]>'
        f"<{root}><{tag}>{'&a;' * 2000}</{tag}></{root}>"
    ).encode()


def xxe_file(root: str = "xml", tag: str = "Encrypt") -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<{root}><{tag}>&x;</{tag}></{root}>"
    ).encode()


def xxe_network(port: int, root: str = "xml", tag: str = "Encrypt") -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} ['
        f'<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/evil.dtd">%p;'
        f'<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>'
        f"<{root}><{tag}>&x;</{tag}></{root}>"
    ).encode()


def xml_attacks(port: int, root: str = "xml", tag: str = "Encrypt") -> dict[str, bytes]:
    return {
        "billion-laughs": billion_laughs(root, tag),
        "quadratic-blowup": quadratic_blowup(root, tag),
        "xxe-file": xxe_file(root, tag),
        "xxe-network": xxe_network(port, root, tag),
        "dtd-network": f'<!DOCTYPE {root} SYSTEM "http://127.0.0.1:{port}/d.dtd">'
        f"<{root}><{tag}>a</{tag}></{root}>".encode(),
    }


@dataclass
class Case:
    name: str
    send: Callable[[Env, int], Any]  # (env, listener port) → awaitable response
    expect: tuple[int, ...]


def req(method: str, path: str, expect: tuple[int, ...], name: str, **kw) -> Case:
    return Case(name, lambda e, _p: e.client.request(method, path, **kw), expect)


TOKEN_CASES = {
    "no-token": {},
    "wrong-token": {"Authorization": "Bearer not-the-token"},
    "basic-scheme": {"Authorization": f"Basic {API_TOKEN}"},
    "token-prefix": {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
    "unicode-token": {"Authorization": "Bearer tést-api-tökén"},
}


def unauthorized(method: str, path: str, **kw) -> list[Case]:
    return [
        req(method, path, (401,), name, headers=headers, **kw)
        for name, headers in TOKEN_CASES.items()
    ]


def json_body_cases(path: str) -> list[Case]:
    """A route that takes a JSON object: bad tokens, bad bodies, wrong types, too large."""
    big = json.dumps({"name": "x" * (LIMIT_KB * 1024 + 10)})
    h = {**auth(), "Content-Type": "application/json"}
    return unauthorized("POST", path, json={"name": "x"}) + [
        req("POST", path, (400,), "malformed-json", data=b"{not json", headers=h),
        req("POST", path, (400,), "json-array", data=b"[1,2]", headers=h),
        req("POST", path, (400,), "deep-nesting", data=b"[" * 20_000 + b"]" * 20_000, headers=h),
        req("POST", path, (400,), "nan", data=b'{"salary_monthly": NaN}', headers=h),
        req("POST", path, (400,), "bad-utf8", data=b'{"name": "\xff\xfe"}', headers=h),
        req("POST", path, (413,), "too-large", data=big.encode(), headers=h),
        req("POST", path, (415,), "xml-content-type", data=xxe_file("a", "name"),
            headers={**auth(), "Content-Type": "application/xml"}),
        req("POST", path, (415,), "form-content-type", data={"name": "x"}, headers=auth()),
        req("POST", path, (422,), "unknown-fields", json={"$where": "1==1", "__proto__": {}},
            headers=auth()),
        req("POST", path, (415,), "gzip-body", data=b"\x1f\x8b" + b"\0" * 64,
            headers={**h, "Content-Encoding": "gzip"}),
    ]  # fmt: skip


def id_path_cases(method: str, template: str, **kw) -> list[Case]:
    """A route with integer ids in its path: tokens, then ids that are not ours."""
    cases = unauthorized(method, template.format("1", "1"), **kw)
    for name, bad in {
        "negative": "-1",
        "huge": "9" * 30,
        "sql": "1%20OR%201=1",
        "arabic-digit": "%D9%A3",
        "dotdot": "%2e%2e",
        "nul": "1%00",
    }.items():
        cases.append(req(method, template.format(bad, bad), (404,), f"id-{name}",
                         headers=auth(), **kw))  # fmt: skip
    return cases


def gzip_post(path: str) -> Callable[[Env, int], Any]:
    """A gzip body (1 MB of spaces inflating to 64 MB): refused unread, never inflated."""
    import zlib

    def send(e: Env, _port: int):
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = b"".join(z.compress(b" " * (1 << 20)) for _ in range(64)) + z.flush()
        return e.client.post(path, data=bomb, headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip"})  # fmt: skip

    return send


def nan_stamp(e: Env, _port: int):
    """A correctly signed request whose timestamp is NaN (it must fail the age check)."""
    from tests.standins.feishu import sign

    body, headers = e.sender.request(e.sender.message(open_id="ou_nan", text="hi"))
    headers.update({"X-Lark-Request-Timestamp": "nan", "X-Lark-Request-Nonce": "n",
                    "X-Lark-Signature": sign("nan", "n", EKEY, body)})  # fmt: skip
    return e.client.post("/feishu/events", data=body, headers=headers)


def wecom_post_cases() -> list[Case]:
    def signed(plaintext: str, **options) -> Callable[[Env, int], Any]:
        def send(e: Env, _port: int):
            query, body = e.signer.post(plaintext, **options)
            return e.client.post("/wecom/callback", params=query, data=body)

        return send

    def forged(e: Env, _port: int):
        query, body = e.signer.post(text_xml("zhangsan", "hi"))
        return e.client.post("/wecom/callback", params={**query, "msg_signature": "0" * 40},
                             data=body)  # fmt: skip

    def missing(e: Env, _port: int):
        query, body = e.signer.post(text_xml("zhangsan", "hi"))
        query.pop("msg_signature")
        return e.client.post("/wecom/callback", params=query, data=body)

    def wrong_key(e: Env, _port: int):
        other = CallbackSigner(token="not-our-token")
        query, body = other.post(text_xml("zhangsan", "hi"))
        return e.client.post("/wecom/callback", params=query, data=body)

    def hostile_body(make: Callable[[int], bytes], content_type: str = "text/xml"):
        def send(e: Env, port: int):
            query, _ = e.signer.post(text_xml("zhangsan", "hi"))
            return e.client.post("/wecom/callback", params=query, data=make(port),
                                 headers={"Content-Type": content_type})  # fmt: skip

        return send

    def inner(name: str) -> Callable[[Env, int], Any]:
        """The attack inside a correctly encrypted and signed message."""

        def send(e: Env, port: int):
            xml = xml_attacks(port, "xml", "Content")[name].decode()
            query, body = e.signer.post(xml)
            return e.client.post("/wecom/callback", params=query, data=body)

        return send

    stale = int(time.time()) - 13 * 3600
    cases = [
        Case("forged-signature", forged, (403,)),
        Case("missing-signature", missing, (400,)),
        Case("other-token", wrong_key, (403,)),
        Case("stale-timestamp", signed(text_xml("zhangsan", "replay"), timestamp=stale), (403,)),
        Case("future-timestamp", signed(text_xml("zhangsan", "x"), timestamp=stale + 26 * 3600),
             (403,)),
        Case("other-corp", signed(text_xml("zhangsan", "x"), receive_id="ww_other"), (403,)),
        Case("malformed-xml", hostile_body(lambda _p: b"<xml><Encrypt>unterminated"), (400,)),
        Case("json-content", hostile_body(lambda _p: b'{"Encrypt": "x"}', "application/json"),
             (400,)),
        Case("empty", hostile_body(lambda _p: b""), (400,)),
        Case("too-large", hostile_body(lambda _p: b"<xml><Encrypt>" + b"A" * (LIMIT_KB * 1024)
                                       + b"</Encrypt></xml>"), (413,)),
        Case("signed-malformed-inner", signed("<xml><Content>unterminated"), (400,)),
        Case("deep-xml", hostile_body(lambda _p: b"<xml>" * 1000 + b"</xml>" * 1000), (400,)),
        Case("signed-deep-inner", signed("<xml>" + "<a>" * 1000 + "</a>" * 1000 + "</xml>"),
             (400,)),
        Case("gzip-body", gzip_post("/wecom/callback"), (415,)),
    ]  # fmt: skip
    for name in xml_attacks(0):
        cases.append(Case(name, hostile_body(lambda p, n=name: xml_attacks(p)[n]), (400,)))
        cases.append(Case(f"signed-inner-{name}", inner(name), (400,)))
    return cases


def wecom_get_cases() -> list[Case]:
    def check(e: Env, _port: int, **changes):
        query = {**e.signer.url_check("echo-1"), **changes}
        return e.client.get("/wecom/callback", params=query)

    stale = int(time.time()) - 13 * 3600
    return [
        Case("forged", lambda e, p: check(e, p, msg_signature="0" * 40), (403,)),
        Case("stale", lambda e, _p: e.client.get(
            "/wecom/callback", params=e.signer.url_check("x", timestamp=stale)), (403,)),
        Case("no-params", lambda e, _p: e.client.get("/wecom/callback"), (400,)),
        Case("huge-echostr", lambda e, p: check(e, p, echostr="A" * 5000), (400,)),
        Case("garbage-echostr", lambda e, p: check(e, p, echostr="%%%\x00"), (400, 403)),
    ]  # fmt: skip


def feishu_cases() -> list[Case]:
    def post(payload_of, **options):
        def send(e: Env, port: int):
            payload = payload_of(e, port)
            body, headers = e.sender.request(payload, **options)
            return e.client.post("/feishu/events", data=body, headers=headers)

        return send

    def msg(e: Env, _port: int, **kw):
        return e.sender.message(open_id="ou_hostile", text="hi", **kw)

    def forged(e: Env, _port: int):
        body, headers = e.sender.request(msg(e, 0))
        headers["X-Lark-Signature"] = "0" * 64
        return e.client.post("/feishu/events", data=body, headers=headers)

    def tampered(e: Env, _port: int):
        body, headers = e.sender.request(msg(e, 0))
        return e.client.post("/feishu/events", data=body.replace(b'"}', b'" }'), headers=headers)

    def impostor(e: Env, _port: int):
        other = FeishuSender(app_id=e.sender.app_id, verification_token="guess",
                             encrypt_key=EKEY)  # fmt: skip
        body, headers = other.request(other.message(open_id="ou_x", text="1"))
        return e.client.post("/feishu/events", data=body, headers=headers)

    def raw(data: Callable[[int], bytes], content_type: str = "application/json"):
        def send(e: Env, port: int):
            body, headers = e.sender.request(data(port), encrypted=False)
            headers["Content-Type"] = content_type
            return e.client.post("/feishu/events", data=body, headers=headers)

        return send

    old = time.time() - 13 * 3600
    return [
        Case("unsigned", post(msg, signed=False), (401,)),
        Case("forged-signature", forged, (401,)),
        Case("tampered-body", tampered, (400, 401)),
        Case("wrong-verification-token", impostor, (403,)),
        Case("stale-timestamp", post(lambda e, p: msg(e, p, create_time=old), timestamp=old),
             (403,)),
        Case("malformed-json", raw(lambda _p: b"{not json"), (400,)),
        Case("deep-nesting", raw(lambda _p: b"[" * 20_000 + b"]" * 20_000), (400,)),
        Case("huge-int", raw(lambda _p: b'{"a": ' + b"9" * 5000 + b"}"), (400,)),
        Case("xml-body", raw(lambda p: xml_attacks(p)["xxe-network"], "application/xml"),
             (400,)),
        Case("billion-laughs", raw(lambda _p: billion_laughs(), "text/xml"), (400,)),
        Case("too-large", post(lambda e, p: e.sender.message(
            open_id="ou_x", text="x" * (LIMIT_KB * 1024 + 1)), encrypted=False), (413,)),
        Case("encrypt-not-base64", raw(lambda _p: b'{"encrypt": "not base64!!"}'), (400,)),
        Case("nan-timestamp", nan_stamp, (400,)),
        Case("gzip-body", gzip_post("/feishu/events"), (415,)),
    ]  # fmt: skip


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def upload_form(data: bytes, user: str = "cand-1", filename: str = "p.png") -> FormData:
    form = FormData()
    form.add_field("user", user)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


def playground_cases() -> dict[tuple[str, str], list[Case]]:
    pg = "/playground"
    h = {**auth(), "Content-Type": "application/json"}
    traversal = ["..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "app.js%00.png",
                 "..%5c..%5cbot%5cconfig.py", "%2fetc%2fpasswd", "index.html"]  # fmt: skip
    return {
        ("GET", f"{pg}"): [req("GET", f"{pg}?x=%00%ff", (200,), "junk-query")],
        ("GET", f"{pg}/"): [req("GET", f"{pg}/?<script>=1", (200,), "junk-query")],
        ("GET", f"{pg}/{{name}}"): [req("GET", f"{pg}/{t}", (404,), f"static-{t}")
                                    for t in traversal],
        ("GET", f"{pg}/api/config"): [req("GET", f"{pg}/api/config?%ff=%00", (200,), "junk")],
        ("GET", f"{pg}/api/history"): unauthorized("GET", f"{pg}/api/history") + [
            req("GET", f"{pg}/api/history?user=../../etc", (400,), "bad-user", headers=auth()),
            req("GET", f"{pg}/api/history?since=yesterday", (400,), "bad-since", headers=auth()),
        ],
        ("GET", f"{pg}/api/events"): unauthorized("GET", f"{pg}/api/events") + [
            req("GET", f"{pg}/api/events?user=%27%3B--", (400,), "bad-user", headers=auth()),
        ],
        ("GET", f"{pg}/api/candidates"): unauthorized("GET", f"{pg}/api/candidates"),
        ("GET", f"{pg}/api/images/{{name}}"): unauthorized("GET", f"{pg}/api/images/a.png") + [
            req("GET", f"{pg}/api/images/{t}", (404,), f"image-{t}", headers=auth())
            for t in [*traversal, "..%2f..%2foffer.png", "%2e%2e.png"]
        ],
        ("POST", f"{pg}/api/send"): unauthorized("POST", f"{pg}/api/send",
                                                 json={"role": "hr", "text": "/help"}) + [
            req("POST", f"{pg}/api/send", (400,), "malformed", data=b"{no", headers=h),
            req("POST", f"{pg}/api/send", (400,), "array", data=b"[]", headers=h),
            req("POST", f"{pg}/api/send", (415,), "xml", data=xxe_file(),
                headers={**auth(), "Content-Type": "text/xml"}),
            req("POST", f"{pg}/api/send", (413,), "too-large",
                data=json.dumps({"role": "hr", "text": "x" * 20_000}).encode(), headers=h),
            req("POST", f"{pg}/api/send", (422,), "too-long-text",
                json={"role": "candidate", "user": "c1", "text": "长" * 2001}, headers=auth()),
            req("POST", f"{pg}/api/send", (422,), "sql-user",
                json={"role": "candidate", "user": "'; DROP TABLE candidate; --", "text": "x"},
                headers=auth()),
            req("POST", f"{pg}/api/send", (400, 422), "lone-surrogate-user",
                data=b'{"role": "candidate", "user": "\\ud800", "text": "x"}', headers=h),
        ],
        ("POST", f"{pg}/api/upload"): unauthorized("POST", f"{pg}/api/upload",
                                                   data=upload_form(PNG_1PX)) + [
            req("POST", f"{pg}/api/upload", (415,), "json", json={"file": "x"}, headers=auth()),
            req("POST", f"{pg}/api/upload", (415,), "not-an-image",
                data=upload_form(b"#!/bin/sh\nrm -rf /\n", filename="../../x.png"),
                headers=auth()),
            req("POST", f"{pg}/api/upload", (413,), "too-large",
                data=upload_form(PNG_1PX + b"\0" * int(UPLOAD_MB * 1024 * 1024 + 1)),
                headers=auth()),
            req("POST", f"{pg}/api/upload", (400, 422), "bad-user",
                data=upload_form(PNG_1PX, user="../../etc/passwd"), headers=auth()),
            req("POST", f"{pg}/api/upload", (400,), "broken-multipart",
                data=b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
                headers={**auth(), "Content-Type": "multipart/form-data; boundary=x"}),
        ],
        ("POST", f"{pg}/api/demo"): unauthorized("POST", f"{pg}/api/demo"),
    }  # fmt: skip


def api_cases() -> dict[tuple[str, str], list[Case]]:
    v1 = "/api/v1"
    cases: dict[tuple[str, str], list[Case]] = {
        ("POST", f"{v1}/{what}"): json_body_cases(f"{v1}/{what}")
        for what in ("requisitions", "candidates", "applications", "interviews", "offers")
    }
    cases[("GET", f"{v1}/offers/{{offer_id}}")] = id_path_cases("GET", v1 + "/offers/{0}")
    cases[("GET", f"{v1}/offers/{{offer_id}}/documents/{{document_id}}")] = id_path_cases(
        "GET", v1 + "/offers/{0}/documents/{1}"
    ) + [
        req("GET", f"{v1}/offers/1/documents/..%2f..%2f..%2fetc%2fpasswd", (404,), "traversal",
            headers=auth()),
    ]  # fmt: skip
    for action in ("withdraw", "onboard"):
        cases[("POST", f"{v1}/offers/{{offer_id}}/{action}")] = id_path_cases(
            "POST", v1 + "/offers/{0}/" + action
        )
    cases[("GET", f"{v1}/candidates/{{candidate_id}}")] = id_path_cases(
        "GET", v1 + "/candidates/{0}"
    )
    cases[("DELETE", f"{v1}/candidates/{{candidate_id}}")] = id_path_cases(
        "DELETE", v1 + "/candidates/{0}"
    )
    cases[("GET", f"{v1}/stats")] = unauthorized("GET", f"{v1}/stats") + [
        req("GET", f"{v1}/stats?days={d}", (422,), f"days-{d}", headers=auth())
        for d in ("abc", "-1", "9" * 40, "1e309", "%00")
    ]
    cases[("GET", f"{v1}/openapi.json")] = [
        req("GET", f"{v1}/openapi.json?%00=%ff", (200,), "public-junk-query")
    ]
    cases[("*", f"{v1}/{{tail}}")] = [
        req("GET", f"{v1}/%2e%2e/%2e%2e/etc/passwd", (404,), "dotdot", headers=auth()),
        req("PUT", f"{v1}/candidates", (405,), "put", headers=auth()),
        req("GET", f"{v1}/candidates;DROP%20TABLE%20candidate", (404,), "sql", headers=auth()),
        req("GET", f"{v1}/nothing", (401, 404), "unknown-no-token"),
    ]
    return cases


def candidate_page_cases() -> dict[tuple[str, str], list[Case]]:
    """The candidate page: every request is checked against its token first, so a wrong,
    tampered or hostile token gets the one 404 page whatever else the request carries
    (valid-token cases are in tests/test_candidate_page.py)."""
    bad = ["x", "A" * 43, "%00%ff", "..%2f..%2fetc%2fpasswd", "<script>", "' OR 1=1 --",
           "A" * 5000]  # fmt: skip
    h = {"Content-Type": "application/json"}
    out: dict[tuple[str, str], list[Case]] = {
        ("GET", "/c/{token}"): [req("GET", f"/c/{t}", (404,), f"token-{t[:12]}") for t in bad],
        ("GET", "/c/{token}/{name}"): [
            req("GET", f"/c/{t}/page.js", (404,), f"static-{t[:12]}") for t in bad[:3]
        ],
        ("POST", "/c/{token}/api/send"): [
            req("POST", f"/c/{bad[1]}/api/send", (404,), "malformed", data=b"{no", headers=h),
            req("POST", f"/c/{bad[1]}/api/send", (404,), "xml", data=xxe_file(),
                headers={"Content-Type": "text/xml"}),
            req("POST", f"/c/{bad[1]}/api/send", (404, 413), "too-large",
                data=json.dumps({"text": "x" * 2_000_000}).encode(), headers=h),
            req("POST", f"/c/{bad[3]}/api/send", (404,), "traversal", json={"text": "hi"}),
        ],
        ("POST", "/c/{token}/api/upload"): [
            req("POST", f"/c/{bad[1]}/api/upload", (404,), "upload", data=upload_form(PNG_1PX)),
            req("POST", f"/c/{bad[1]}/api/upload", (404,), "not-multipart", data=b"\x00" * 64),
        ],
        ("*", "/c/{rest}"): [
            req("GET", "/c/", (404,), "empty"),
            req("DELETE", f"/c/{bad[1]}", (404,), "delete"),
            req("GET", f"/c/{bad[1]}/api/../../../etc/passwd", (404,), "dotdot"),
        ],
    }
    for name in ("state", "history", "events"):
        out[("GET", f"/c/{{token}}/api/{name}")] = [
            req("GET", f"/c/{t}/api/{name}?since=%00", (404,), f"{name}-{t[:12]}")
            for t in bad[:4]
        ]
    return out


def all_cases() -> dict[tuple[str, str], list[Case]]:
    ops = {
        ("GET", path): [
            req("GET", f"{path}?%00=%ff&x=" + "A" * 4000, (200,), "junk-query"),
            req("POST", path, (405,), "post", data=billion_laughs()),
        ]
        for path in ("/healthz", "/readyz", "/metrics")
    }
    return {
        **ops,
        **api_cases(),
        ("GET", "/wecom/callback"): wecom_get_cases(),
        ("POST", "/wecom/callback"): wecom_post_cases(),
        ("POST", "/feishu/events"): feishu_cases(),
        **playground_cases(),
        **candidate_page_cases(),
    }


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path template) of every route; HEAD is the GET route's twin."""
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}


async def all_tables_answer() -> None:
    conn = Tortoise.get_connection("default")
    for model in Tortoise.apps["models"].values():
        await conn.execute_query(f'SELECT COUNT(*) FROM "{model._meta.db_table}"')


# -- the tests -------------------------------------------------------------------------------


async def test_every_route_has_hostile_cases(env):
    routes = app_routes(env.client.app)
    table = all_cases()
    assert routes - set(table) == set(), "routes without hostile-input cases"
    assert set(table) - routes == set(), "cases for routes the app does not have"
    assert all(table.values())


async def test_hostile_requests_get_4xx_store_nothing_and_leave_the_service_healthy(env, listener):
    assert await InboundEvent.all().count() == 0
    wrong: list[str] = []
    for (method, path), cases in all_cases().items():
        for case in cases:
            resp = await case.send(env, listener.port)
            body = await resp.read()
            if resp.status not in case.expect:
                wrong.append(f"{method} {path} [{case.name}]: {resp.status} {body[:120]!r}")
            if b"root:x:0:0" in body:
                wrong.append(f"{method} {path} [{case.name}]: /etc/passwd in the answer")
    assert wrong == [], "\n".join(wrong)
    assert await InboundEvent.all().count() == 0  # nothing from an unverified request
    await all_tables_answer()
    assert listener.connections == []  # no entity was fetched
    for path in ("/healthz", "/readyz"):
        resp = await env.client.get(path)
        assert resp.status == 200, await resp.text()
    uploads = env.rt.settings.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # no refused upload was kept


async def hire_on_wecom(env: Env, name: str, user: str) -> dict:
    async def post(path: str, body: dict) -> dict:
        resp = await env.client.post(f"/api/v1/{path}", json=body, headers=auth())
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()

    await post("requisitions", {"external_id": "req-h", "title": "{{7*7777}} 工程师"})
    person = await post(
        "candidates", {"external_id": f"c-{user}", "name": name, "wecom_user_id": user}
    )
    app = await post(
        "applications", {"candidate_id": person["id"], "requisition_external_id": "req-h"}
    )
    await post(
        "offers",
        {
            "application_id": app["id"],
            "salary_monthly": "25000",
            "start_date": (date.today() + timedelta(days=30)).isoformat(),
            "channel": "wecom",
        },
    )
    return person


def wecom_texts(env: Env, user: str | None = None) -> list[str]:
    out = []
    for body in env.wecom.delivered("message/send"):
        if user is not None and body.get("touser") != user:
            continue
        kind = body.get("msgtype")
        part = body.get(kind) or {}
        out.append(json.dumps(part, ensure_ascii=False))
    for body in env.wecom.delivered("webhook/send"):
        if user is None:
            out.append(json.dumps(body, ensure_ascii=False))
    return out


def evaluated(texts: list[str]) -> list[str]:
    return [t for t in texts if any(sign in t for sign in EVALUATED)]


async def test_signed_hostile_text_is_answered_politely_and_never_evaluated(env, listener):
    hostile = [s % {"port": listener.port} if "%(port)" in s else s for s in INJECTIONS]
    hostile += [*UNICODE, "很长的消息" * 400]  # 2000 chars
    # ATS names: stored verbatim, shown verbatim.
    person = await hire_on_wecom(env, "王{0.__class__}'; DROP TABLE candidate; --", "lisi")
    resp = await env.client.get(f"/api/v1/candidates/{person['id']}", headers=auth())
    assert (await resp.json())["name"] == "王{0.__class__}'; DROP TABLE candidate; --"
    await drain(env.rt)
    before = len(wecom_texts(env, "lisi"))
    assert before >= 1  # the offer reached them

    for text in hostile:  # the candidate, through signed callbacks
        assert (await env.callback_text("lisi", text)).status == 200
    commands = [f"/history {hostile[0]}", f"/note {hostile[1]} 备注", "/{{7*7777}}",
                f"/forget {hostile[3]}", f"/history {UNICODE[0]}", "/" + "x" * 3000]  # fmt: skip
    for text in commands:  # HR, through signed callbacks
        assert (await env.callback_text("hr_zhang", text)).status == 200
    # Feishu: lone surrogates, NUL and control characters are valid JSON escapes.
    for text in ("\ud800 lone", "nul \u0000 byte", "\udfff\ud800", "bell \u0007"):
        body, headers = env.sender.request(env.sender.message(open_id="ou_stranger", text=text))
        resp = await env.client.post("/feishu/events", data=body, headers=headers)
        assert resp.status in (200, 400), await resp.text()

    await drain(env.rt)
    rows = await InboundEvent.all()
    assert {r.status for r in rows} == {"done"}, [(r.event_id, r.last_error) for r in rows]
    wecom_rows = [r for r in rows if r.platform == "wecom"]
    assert len(wecom_rows) == len(hostile) + len(commands)
    # Every message from the candidate and from HR got an answer of its own.
    assert len(wecom_texts(env, "lisi")) - before >= 1
    assert len(wecom_texts(env, "hr_zhang")) == len(commands)
    assert not evaluated(wecom_texts(env))
    answered = [json.dumps(m["content"], ensure_ascii=False) for m in env.feishu.messages]
    assert not evaluated(answered)
    assert await Outbox.filter(status="failed").count() == 0
    await all_tables_answer()
    assert listener.connections == []  # ${jndi:...} stayed text
    for path in ("/healthz", "/readyz"):
        assert (await env.client.get(path)).status == 200


async def test_webhook_bodies_over_one_megabyte_get_413_at_the_default_limit(
    settings_factory, make_runtime
):
    async with running_standin() as wecom:
        feishu = {"enabled": True, "app_id": "cli_x", "app_secret": "s",
                  "verification_token": VTOKEN, "encrypt_key": EKEY}  # fmt: skip
        rt = await make_runtime(settings_factory(wecom=wecom.settings(), feishu=feishu))
        assert rt.settings.server.max_body_kb == 1024  # the default: 1 MB
        sender = FeishuSender(app_id="cli_x", verification_token=VTOKEN, encrypt_key=EKEY)
        async with TestClient(TestServer(build_app(rt))) as client:
            query, _ = CallbackSigner().post(text_xml("zhangsan", "hi"))
            over = b"<xml><Encrypt>" + b"A" * (1024 * 1024) + b"</Encrypt></xml>"
            resp = await client.post("/wecom/callback", params=query, data=over)
            assert resp.status == 413
            body, headers = sender.request(
                sender.message(open_id="ou_x", text="x" * (1024 * 1024)), encrypted=False
            )
            assert len(body) > 1024 * 1024
            resp = await client.post("/feishu/events", data=body, headers=headers)
            assert resp.status == 413
            # Just under the limit is read (and then refused for what it is, not its size).
            under = b"<xml><Encrypt>" + b"A" * (1000 * 1024) + b"</Encrypt></xml>"
            resp = await client.post("/wecom/callback", params=query, data=under)
            assert resp.status in (400, 403)
    assert await InboundEvent.all().count() == 0


@pytest.mark.parametrize(
    "name",
    ["\ud800 孤立代理", "nul \u0000 名字", "\u202e反转\u202c", "'; DROP TABLE candidate; --"],
    ids=["lone-surrogate", "nul", "rtl", "sql"],
)
async def test_ats_names_with_hostile_unicode_get_a_clear_answer(env, name):
    raw = json.dumps({"external_id": "u-1", "name": name}).encode()  # \\u escapes
    headers = {**auth(), "Content-Type": "application/json"}
    resp = await env.client.post("/api/v1/candidates", data=raw, headers=headers)
    assert resp.status in (201, 400, 422), await resp.text()
    if resp.status == 201:
        made = await resp.json()
        again = await env.client.get(f"/api/v1/candidates/{made['id']}", headers=auth())
        assert again.status == 200
        assert "\x00" not in (await again.json())["name"]
    await all_tables_answer()
    assert (await env.client.get("/readyz")).status == 200
