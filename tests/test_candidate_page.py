"""The candidate page /c/{token} over real HTTP, database, Redis and worker: what the
candidate sees, that every bad token gets one same 404, the limits, the headers, the
proxy rules, uploads, expiry and erasure (docs/candidate-page.md)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.app import build_app
from bot.candidate_page import guard
from bot.channels.web.channel import uploads_dir
from bot.storage.models import Candidate, CandidateToken, InboundEvent, Offer, Outbox
from tests.conftest import PG_URL
from tests.helpers import auth, drain, sent_messages
from tests.offer_steps import hire

PUBLIC = "https://hr.example.com"
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def png_bytes(width: int = 900, height: int = 700) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


class PageEnv:
    def __init__(self, rt, client, answer):
        self.rt, self.client, self.answer = rt, client, answer
        self.url = answer["invite_url"]
        self.token = self.url.rsplit("/c/", 1)[1]
        self.base = f"/c/{self.token}"

    async def get(self, path: str = "", **kw):
        return await self.client.get(self.base + path, **kw)

    async def state(self) -> dict:
        resp = await self.get("/api/state")
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def send(self, **body):
        body.setdefault("client_id", uuid.uuid4().hex)
        return await self.client.post(f"{self.base}/api/send", json=body)

    async def history(self) -> list[dict]:
        resp = await self.get("/api/history")
        assert resp.status == 200
        return (await resp.json())["items"]

    async def address(self) -> str:
        return (await Candidate.get(id=self.answer["candidate_id"])).web_id


async def _env(make_runtime, settings_factory, **sections):
    server = {"public_url": PUBLIC, **sections.pop("server", {})}
    rt = await make_runtime(settings_factory(server=server, **sections))
    client = TestClient(TestServer(build_app(rt)))
    await client.start_server()
    answer = await hire(client, web_id=None, name="王小明")
    offer = await Offer.get(id=answer["id"])
    answer["candidate_id"] = offer.candidate_id
    return PageEnv(rt, client, answer)


@pytest.fixture
async def env(make_runtime, settings_factory):
    e = await _env(make_runtime, settings_factory)
    yield e
    await e.client.close()


async def _bound(env: PageEnv) -> dict:
    """Open the page as the invited candidate does; the worker binds them and sends the offer."""
    await env.state()
    await drain(env.rt)
    return await env.state()


# -- what the candidate sees --------------------------------------------------------------


async def test_the_invite_link_is_the_page_and_the_token_is_stored_hashed_only(env):
    assert env.url.startswith(f"{PUBLIC}/c/") and len(env.token) >= 22
    offer = await Offer.get(id=env.answer["id"])
    assert offer.invite_url is None  # never stored: the token is secret
    assert await CandidateToken.filter(token_hash__contains=env.token).count() == 0
    got = await env.client.get(f"/api/v1/offers/{offer.id}", headers=auth())
    assert env.token not in await got.text()


async def test_opening_the_page_binds_and_shows_the_offer_and_its_buttons(env):
    state = await _bound(env)
    offer = state["offer"]
    assert offer["job"] == "后端工程师" and "25,000" in offer["salary"]
    labels = [a["label"] for a in offer["actions"]]
    assert any("接受" in x for x in labels) and any("婉拒" in x for x in labels)
    assert any("我有问题" in x for x in labels)
    items = await env.history()
    card = next(i for i in items if i["dir"] == "out" and i["actions"])
    assert "后端工程师" in card["text"]
    assert all(i["kind"] != "event" for i in items)  # the binding event is not shown
    row = await Offer.get(id=env.answer["id"])
    assert row.stage == "awaiting_reply" and row.data["address"] == ["web", await env.address()]


async def test_the_page_html_has_no_inline_script_or_style_and_strict_headers(env):
    resp = await env.get()
    assert resp.status == 200
    html = await resp.text()
    for name, value in {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }.items():
        assert resp.headers[name] == value
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp

    class Parts(HTMLParser):
        inline, styles, handlers, scripts = [], [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "script":
                self.scripts.append(attrs.get("src"))
            if tag == "style":
                self.styles.append(tag)
            self.handlers += [k for k in attrs if k.startswith("on") or k == "style"]

        def handle_data(self, data):
            if self.lasttag == "script" and data.strip():
                self.inline.append(data)

    parts = Parts()
    parts.feed(html)
    assert parts.scripts == [f"{env.token}/chat.js", f"{env.token}/page.js"]
    assert not parts.inline and not parts.styles and not parts.handlers
    assert html.count('type="file"') == 1
    for name in ("page.js", "chat.js", "page.css"):
        asset = await env.get(f"/{name}")
        assert asset.status == 200 and asset.headers["X-Content-Type-Options"] == "nosniff"
    for name in ("page.js", "chat.js"):
        js = await (await env.get(f"/{name}")).text()
        assert "innerHTML" not in js and "textContent" in js
    assert (await env.get("/chat.css")).status == 404


async def test_questions_and_answers_take_the_chat_path(env):
    await _bound(env)
    resp = await env.send(text="我再考虑一下，薪资能否再谈？")
    assert resp.status == 202
    await drain(env.rt)
    resp = await env.send(action={"action": "accept", "offer_id": env.answer["id"]})
    assert resp.status == 202
    await drain(env.rt)
    offer = await Offer.get(id=env.answer["id"])
    assert offer.status == "accepted"
    texts = [m["text"] for m in await sent_messages("web", await env.address())]
    assert any("HR" in t for t in texts[1:])  # the warm acknowledgement of the doubt
    state = await env.state()
    assert state["offer"]["status"] == "accepted" and state["offer"]["actions"] == []
    assert state["documents"]["done"] == 0 and state["documents"]["total"] == 8


async def test_hostile_text_is_stored_and_shown_as_data(env):
    await _bound(env)
    assert (await env.send(text=HOSTILE)).status == 202
    await drain(env.rt)
    items = await env.history()
    assert any(i["text"] == HOSTILE for i in items if i["dir"] == "in")
    assert (await env.get()).headers["Content-Type"].startswith("text/html")
    assert HOSTILE not in await (await env.get()).text()


# -- tokens ------------------------------------------------------------------------------------


async def test_wrong_tampered_unknown_and_expired_tokens_get_the_same_404(env):
    await _bound(env)
    t = env.token
    flipped = t[:-1] + ("A" if t[-1] != "A" else "B")
    bodies = set()
    for path in (
        f"/c/{flipped}",
        f"/c/{flipped}/api/state",
        f"/c/{t}x",
        f"/c/{t[:-2]}",
        "/c/",
        "/c/%2e%2e%2fetc%2fpasswd",
        f"/c/{flipped}/page.js",
        f"/c/{t}/nothing-here",
    ):
        resp = await env.client.get(path)
        assert resp.status == 404, path
        assert resp.headers["X-Frame-Options"] == "DENY"
        bodies.add(await resp.read())
    resp = await env.client.post(f"/c/{flipped}/api/send", json={"text": "hi"})
    assert resp.status == 404
    bodies.add(await resp.read())
    # Expired: the offer closed 30 days ago.
    now = env.rt.clock()
    await Offer.filter(id=env.answer["id"]).update(
        status="declined", closed_at=now - timedelta(days=30, seconds=1)
    )
    resp = await env.get("/api/state")
    assert resp.status == 404
    bodies.add(await resp.read())
    assert len(bodies) == 1
    body = bodies.pop().decode()
    assert (
        "王小明" not in body
        and "后端工程师" not in body
        and env.rt.settings.company.name not in body
    )


async def test_the_link_works_until_thirty_days_after_the_offer_closed(env):
    await _bound(env)
    now = env.rt.clock()
    await Offer.filter(id=env.answer["id"]).update(
        status="declined", closed_at=now - timedelta(days=29)
    )
    assert (await env.get()).status == 200
    await Offer.filter(id=env.answer["id"]).update(closed_at=now - timedelta(days=31))
    assert (await env.get()).status == 404


# -- bad bodies ----------------------------------------------------------------------------------


async def test_oversized_malformed_and_hostile_bodies_are_refused(env):
    await _bound(env)
    base = f"{env.base}/api/send"
    post_raw = env.client.post
    cases = [
        (
            await post_raw(base, data=b"{not json", headers={"Content-Type": "application/json"}),
            422,
        ),
        (await post_raw(base, data=b"[1,2]", headers={"Content-Type": "application/json"}), 422),
        (await post_raw(base, data="text=hi", headers={"Content-Type": "text/plain"}), 415),
        (await env.send(text="x" * 2001), 422),
        (await env.send(text="   "), 422),
        (await env.send(text="hi", client_id="../../x"), 422),
        (await env.send(text="hi", role="hr"), 422),  # no HR powers, no extra fields
        (await env.send(action={"action": "claim", "alert_id": 1}), 422),
        (await env.send(action={"action": "resolve", "alert_id": 1}), 422),
        (await env.send(text="hi", action={"action": "accept"}), 422),
        (
            await post_raw(
                base,
                data=b"{" + b'"text":"' + b"a" * 20000 + b'"}',
                headers={"Content-Type": "application/json"},
            ),
            413,
        ),
    ]
    for resp, status in cases:
        assert resp.status == status, (status, await resp.text())
        assert "Traceback" not in await resp.text()
    texts = [row.payload.get("text") for row in await InboundEvent.filter(kind="text")]
    assert "hi" not in texts and "x" * 2001 not in texts


async def test_a_typed_command_gives_a_candidate_no_hr_power(env):
    await _bound(env)
    assert (await env.send(text="/pending")).status == 202
    await drain(env.rt)
    last = (await sent_messages("web", await env.address()))[-1]["text"]
    assert last == env.rt.catalog.t("commands.not_admin")


# -- uploads --------------------------------------------------------------------------------------


def _form(data: bytes, filename: str = "id.png", client_id: str | None = None) -> FormData:
    form = FormData()
    form.add_field("client_id", client_id or uuid.uuid4().hex)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


async def _accepted(env: PageEnv) -> None:
    await _bound(env)
    await env.send(action={"action": "accept", "offer_id": env.answer["id"]})
    await drain(env.rt)


async def test_an_upload_is_checked_like_in_chat_and_counts_k_of_n(env):
    await _accepted(env)
    resp = await env.client.post(f"{env.base}/api/upload", data=_form(png_bytes()))
    assert resp.status == 202, await resp.text()
    await drain(env.rt)
    state = await env.state()
    assert (state["documents"]["done"], state["documents"]["total"]) == (1, 8)
    texts = [m["text"] for m in await sent_messages("web", await env.address())]
    assert any("1/8" in t for t in texts)
    # Too small a photo: accepted at the door, refused politely by the documents flow.
    resp = await env.client.post(f"{env.base}/api/upload", data=_form(png_bytes(200, 100)))
    assert resp.status == 202
    await drain(env.rt)
    texts = [m["text"] for m in await sent_messages("web", await env.address())]
    assert "600" in texts[-1] or "清晰" in texts[-1] or "像素" in texts[-1]
    assert (await env.state())["documents"]["done"] == 1


async def test_wrong_type_and_oversized_uploads_are_refused_politely(env):
    await _accepted(env)
    resp = await env.client.post(
        f"{env.base}/api/upload", data=_form(b"MZ\x90\x00 not a photo", "setup.exe")
    )
    assert resp.status == 415
    body = await resp.json()
    assert body["error"] == "wrong_type" and "PDF" in body["message"]
    big = png_bytes() + b"\0" * int(env.rt.settings.storage.max_document_mb * 1024 * 1024)
    resp = await env.client.post(f"{env.base}/api/upload", data=_form(big))
    assert resp.status == 413 and "MB" in (await resp.json())["message"]
    for form_fields in ({"user": "hr1"}, {}):
        form = FormData()
        for k, v in form_fields.items():
            form.add_field(k, v)
        resp = await env.client.post(f"{env.base}/api/upload", data=form)
        assert resp.status in (400, 415, 422)
    resp = await env.client.post(
        f"{env.base}/api/upload",
        data=b"--x\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert resp.status == 400
    assert list(uploads_dir(env.rt.settings.data_dir).iterdir()) == []


async def test_uploads_are_never_served_back(env):
    await _accepted(env)
    await env.client.post(f"{env.base}/api/upload", data=_form(png_bytes()))
    (key,) = [p.name for p in uploads_dir(env.rt.settings.data_dir).iterdir()]
    for path in (f"{env.base}/uploads/{key}", f"{env.base}/api/uploads/{key}", f"/c/{key}"):
        assert (await env.client.get(path)).status == 404


# -- limits, proxies ---------------------------------------------------------------------------


async def test_rate_limits_per_token_and_per_ip(env):
    await _bound(env)
    statuses = [(await env.send(text=f"第{i}条")).status for i in range(guard.TOKEN_WRITES[0] + 1)]
    assert statuses[:-1] == [202] * guard.TOKEN_WRITES[0] and statuses[-1] == 429
    assert (await env.send(text="再来")).headers["Retry-After"] == "60"
    # Guessing tokens from one address: after IP_MISSES wrong ones even the right one waits.
    for _ in range(guard.IP_MISSES[0]):
        assert (await env.client.get(f"/c/{'A' * 43}")).status == 404
    assert (await env.client.get(f"/c/{'B' * 43}")).status == 429
    assert (await env.get()).status == 429


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(env):
    for i in range(guard.IP_MISSES[0]):
        headers = {"X-Forwarded-For": f"203.0.113.{i}", "X-Forwarded-Proto": "https"}
        resp = await env.client.get(f"/c/{'A' * 43}", headers=headers)
        assert resp.status == 404 and "Strict-Transport-Security" not in resp.headers
    resp = await env.client.get(f"/c/{'A' * 43}", headers={"X-Forwarded-For": "198.51.100.7"})
    assert resp.status == 429  # still counted as the peer, 127.0.0.1


async def test_forwarded_for_is_honoured_from_a_trusted_proxy(make_runtime, settings_factory):
    env = await _env(
        make_runtime, settings_factory, server={"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]}
    )
    try:
        for _ in range(guard.IP_MISSES[0]):
            resp = await env.client.get(
                f"/c/{'A' * 43}", headers={"X-Forwarded-For": "203.0.113.9, 10.1.2.3"}
            )
            assert resp.status == 404
        blocked = await env.client.get(f"/c/{'A' * 43}", headers={"X-Forwarded-For": "203.0.113.9"})
        assert blocked.status == 429
        # Another client behind the same proxy is not blocked, and https is believed.
        other = await env.get(
            headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
        )
        assert other.status == 200 and "max-age" in other.headers["Strict-Transport-Security"]
    finally:
        await env.client.close()


# -- with real platforms on -------------------------------------------------------------------


async def test_beside_wecom_the_page_works_without_the_playground(make_runtime, settings_factory):
    from tests.standins.wecom import wecom_env

    async with wecom_env(
        settings_factory,
        make_runtime,
        wecom={"kf_open_kfid": ""},
        server={"public_url": PUBLIC, "host": "0.0.0.0"},
        api={"token": "tok"},
        playground={"enabled": False},
    ) as e:
        assert "web" in e.rt.channels and "web" not in e.rt.hr_platforms
        assert (await e.client.get("/playground")).status == 404
        resp = await e.client.post(
            "/api/v1/requisitions",
            json={"external_id": "r1", "title": "后端工程师"},
            headers=auth("tok"),
        )
        assert resp.status == 201
        person = await (
            await e.client.post("/api/v1/candidates", json={"name": "李四"}, headers=auth("tok"))
        ).json()
        application = await (
            await e.client.post(
                "/api/v1/applications",
                json={"candidate_id": person["id"], "requisition_external_id": "r1"},
                headers=auth("tok"),
            )
        ).json()
        answer = await (
            await e.client.post(
                "/api/v1/offers",
                json={
                    "application_id": application["id"],
                    "salary_monthly": "20000",
                    "start_date": (e.rt.clock().date() + timedelta(days=20)).isoformat(),
                },
                headers=auth("tok"),
            )
        ).json()
        assert answer["invite_url"].startswith(f"{PUBLIC}/c/") and len(answer["invite_code"]) == 6
        base = "/c/" + answer["invite_url"].rsplit("/c/", 1)[1]
        assert (await e.client.get(f"{base}/api/state")).status == 200
        await drain(e.rt)
        state = await (await e.client.get(f"{base}/api/state")).json()
        assert [a["key"] for a in state["offer"]["actions"]] == ["accept", "decline", "question"]
        resp = await e.client.post(
            f"{base}/api/send", json={"text": "加班多吗？", "client_id": uuid.uuid4().hex}
        )
        assert resp.status == 202
        await drain(e.rt)
        # HR hears it in the WeCom HR group, not on the web channel.
        assert await Outbox.filter(platform="web", recipient_id="hr_group").count() == 0
        assert await Outbox.filter(platform="wecom", recipient_kind="hr_group").count() >= 1


# -- erasure --------------------------------------------------------------------------------------


async def test_erasure_revokes_the_link_and_deletes_the_page_uploads_and_messages(env, tmp_path):
    await _accepted(env)
    secret = "我的身份证号码是十八位秘密文本XYZZY"
    await env.send(text=secret)
    marker = b"UPLOAD-MARKER-" + uuid.uuid4().hex.encode()
    await env.client.post(f"{env.base}/api/upload", data=_form(png_bytes() + marker))
    await drain(env.rt)
    cid = env.answer["candidate_id"]
    resp = await env.client.delete(f"/api/v1/candidates/{cid}", headers=auth())
    assert resp.status == 204
    assert (await env.get()).status == 404
    assert await CandidateToken.filter(candidate_id=cid).count() == 0
    assert list(uploads_dir(env.rt.settings.data_dir).iterdir()) == []
    await drain(env.rt)
    # Nothing under the data dir (documents, uploads, the SQLite files) still holds them.
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "redis" not in p.name]
    assert files or PG_URL  # SQLite: the database's own files are read too
    for path in files:
        data = path.read_bytes()
        assert marker not in data, path
        assert secret.encode() not in data, path
        assert env.token.encode() not in data, path
    # And every row of every table, whatever the backend.
    from tortoise import Tortoise

    for model in Tortoise.apps["models"].values():
        rows = json.dumps(await model.all().values(), default=str, ensure_ascii=False)
        assert secret not in rows and env.token not in rows, model.__name__


# -- the event stream, the config -------------------------------------------------------------


async def test_the_event_stream_checks_the_token_and_carries_the_conversation(env):
    await _bound(env)
    bad = await env.client.get(f"/c/{'A' * 43}/api/events")
    assert bad.status == 404
    resp = await env.get("/api/events?since=2000-01-01T00:00:00%2B00:00")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    seen = b""
    while b"event: cursor" not in seen:
        seen += await resp.content.readany()
    resp.close()
    assert "后端工程师".encode() in seen and b"enter_session" not in seen
    assert (await env.get("/api/events?since=yesterday")).status == 400


def test_a_bad_trusted_proxy_stops_start_up_naming_the_key(tmp_path):
    from bot.config import ConfigError, load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\ntrusted_proxies = ["10.0.0.0/8", "not-an-ip"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, environ={})
    assert "trusted_proxies" in str(caught.value) and "not-an-ip" in str(caught.value)


async def test_in_english_the_page_and_its_buttons_speak_english(make_runtime, settings_factory):
    env = await _env(make_runtime, settings_factory, company={"language": "en", "quiet_hours": []})
    try:
        state = await _bound(env)
        assert state["language"] == "en" and state["words"]["send"] == "Send"
        labels = " | ".join(a["label"] for a in state["offer"]["actions"])
        for word in ("accept", "decline", "question"):
            assert word in labels.lower(), labels
        assert state["offer"]["status_text"] == "Waiting for your answer"
    finally:
        await env.client.close()


async def test_a_wecom_member_whose_offer_went_to_wecom_can_answer_on_the_page(
    make_runtime, settings_factory
):
    """The page link reached them by SMS (say their chat went quiet): the buttons on the
    page act on the offer they got in WeCom, and the conversation continues on the page."""
    from bot.services import candidate_links
    from tests.standins.wecom import wecom_env

    async with wecom_env(
        settings_factory, make_runtime, server={"public_url": PUBLIC}, api={"token": "tok"}
    ) as e:
        h = auth("tok")

        async def post(path, body):
            resp = await e.client.post(f"/api/v1/{path}", json=body, headers=h)
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()

        await post("requisitions", {"external_id": "r1", "title": "测试工程师"})
        person = await post("candidates", {"name": "赵六", "wecom_user_id": "zhaoliu"})
        app = await post(
            "applications", {"candidate_id": person["id"], "requisition_external_id": "r1"}
        )
        start = (e.rt.clock().date() + timedelta(days=20)).isoformat()
        answer = await post(
            "offers",
            {"application_id": app["id"], "salary_monthly": "18000", "start_date": start},
        )
        assert answer.get("invite_url") is None  # reachable in WeCom: no invite
        await drain(e.rt)
        assert await Outbox.filter(platform="wecom", recipient_id="zhaoliu", status="sent").exists()
        url = await candidate_links.link_for(e.rt, person["id"])
        base = "/c/" + url.rsplit("/c/", 1)[1]
        state = await (await e.client.get(f"{base}/api/state")).json()
        assert state["offer"]["id"] == answer["id"] and state["offer"]["actions"]
        resp = await e.client.post(
            f"{base}/api/send",
            json={"action": {"action": "accept", "offer_id": answer["id"]}, "client_id": "a" * 16},
        )
        assert resp.status == 202
        await drain(e.rt)
        assert (await Offer.get(id=answer["id"])).status == "accepted"
        web_id = (await Candidate.get(id=person["id"])).web_id
        assert web_id.startswith(f"page-{person['id']}-")
        assert await sent_messages("web", web_id)  # the thank-you, on the page
        state = await (await e.client.get(f"{base}/api/state")).json()
        assert state["offer"]["status"] == "accepted" and state["documents"]["total"] == 8
