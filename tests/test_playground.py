"""The playground's HTTP API: the page, sending, uploads, history, the event stream,
access rules, and the demo — through the real app, database, Redis and worker."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from datetime import timedelta

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.app import build_app
from bot.channels.base import HR_GROUP, Inbound, MediaRef, Outgoing, PermanentError
from bot.channels.web.channel import PLAYGROUND_HR_ID, prune_uploads, upload_path, uploads_dir
from bot.flows.router import Turn
from bot.storage.models import (
    Alert,
    Application,
    Candidate,
    Conversation,
    InboundEvent,
    Interview,
    Offer,
    Outbox,
    Reason,
)
from tests.helpers import API_TOKEN, auth, drain, sent_messages

SEND = "/playground/api/send"
UPLOAD = "/playground/api/upload"
HISTORY = "/playground/api/history"
EVENTS = "/playground/api/events"


def png_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def pdf_bytes() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def upload_form(data: bytes, filename: str = "photo.png", user: str = "cand-1") -> FormData:
    form = FormData()
    form.add_field("user", user)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return form


async def web_candidate(name: str = "王小明", web_id: str = "cand-1") -> Candidate:
    return await Candidate.create(name=name, phone="13800138000", web_id=web_id)


@pytest.fixture
async def open_client(make_runtime, settings_factory):
    """A client for a server like a newcomer's: no platform, no admins configured."""
    rt = await make_runtime(settings_factory(hr={"admins": []}))
    async with TestClient(TestServer(build_app(rt))) as c:
        c.rt = rt
        yield c


async def client_for(make_runtime, settings):
    rt = await make_runtime(settings)
    client = TestClient(TestServer(build_app(rt)))
    await client.start_server()
    client.rt = rt
    return client


# -- the page ------------------------------------------------------------------------------


async def test_page_script_and_styles_are_served(client):
    page = await client.get("/playground")
    assert page.status == 200
    html = await page.text()
    assert 'id="start-demo"' in html and "/playground/app.js" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert html.index("/playground/chat.js") < html.index("/playground/app.js")  # shared first
    for name in ("app.js", "chat.js"):
        script = await client.get(f"/playground/{name}")
        assert script.status == 200 and "javascript" in script.headers["Content-Type"]
    assert (await client.get("/playground/app.css")).headers["Content-Type"].startswith("text/css")
    assert (await client.get("/playground/demo.py")).status == 404
    assert (await client.get("/playground/..%2fapp.py")).status == 404


async def test_config_tells_the_page_its_words(client):
    resp = await client.get("/playground/api/config")
    body = await resp.json()
    assert resp.status == 200
    assert body["token_required"] is False
    assert body["hr_id"] == PLAYGROUND_HR_ID
    assert body["words"]["start_demo"] == client.server.app[_rt_key()].catalog.t(
        "playground.ui.start_demo"
    )


def _rt_key():
    from bot.handlers.common import RUNTIME_KEY

    return RUNTIME_KEY


# -- access rules ------------------------------------------------------------------------------

FEISHU = {
    "enabled": True,
    "app_id": "cli_test",
    "app_secret": "secret",
    "verification_token": "vtoken",
    "api_base_url": "http://127.0.0.1:9",  # never called by these tests
}


async def test_disabled_playground_is_not_there(make_runtime, settings_factory):
    client = await client_for(make_runtime, settings_factory(playground={"enabled": False}))
    try:
        for path in ("/playground", "/playground/app.js", "/playground/api/config", HISTORY):
            assert (await client.get(path)).status == 404, path
        resp = await client.post(SEND, json={"role": "hr", "text": "/help"})
        assert resp.status == 404
        assert await InboundEvent.all().count() == 0
    finally:
        await client.close()


async def test_beside_a_platform_without_token_on_a_public_bind_it_is_not_there(
    make_runtime, settings_factory
):
    settings = settings_factory(feishu=FEISHU, api={"token": ""}, server={"host": "0.0.0.0"})
    client = await client_for(make_runtime, settings)
    try:
        assert (await client.get("/playground")).status == 404
        assert (await client.post(SEND, json={"role": "hr", "text": "/help"})).status == 404
    finally:
        await client.close()


async def test_beside_a_platform_on_a_public_bind_the_api_token_is_required(
    make_runtime, settings_factory
):
    settings = settings_factory(feishu=FEISHU, server={"host": "0.0.0.0"})
    client = await client_for(make_runtime, settings)
    try:
        config = await (await client.get("/playground/api/config")).json()
        assert config["token_required"] is True
        assert (await client.get("/playground")).status == 200  # the page asks for it
        body = {"role": "candidate", "user": "cand-1", "text": "hi"}
        for headers in ({}, auth("wrong"), {"Authorization": API_TOKEN}, auth("")):
            resp = await client.post(SEND, json=body, headers=headers)
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert (await client.get(HISTORY, headers=headers)).status == 401
            assert (await client.post("/playground/api/demo", headers=headers)).status == 401
            assert (await client.get(EVENTS, headers=headers)).status == 401
            form = upload_form(png_bytes())
            assert (await client.post(UPLOAD, data=form, headers=headers)).status == 401
        assert await InboundEvent.all().count() == 0
        assert await Candidate.all().count() == 0
        assert (await client.post(SEND, json=body, headers=auth())).status == 202
        assert (await client.get(HISTORY, headers=auth())).status == 200
    finally:
        await client.close()


async def test_beside_a_platform_a_localhost_bind_needs_no_token(make_runtime, settings_factory):
    settings = settings_factory(feishu=FEISHU, api={"token": ""}, server={"host": "127.0.0.1"})
    client = await client_for(make_runtime, settings)
    try:
        config = await (await client.get("/playground/api/config")).json()
        assert config["token_required"] is False
        resp = await client.post(SEND, json={"role": "hr", "text": "/help"})
        assert resp.status == 202
    finally:
        await client.close()


# -- sending ---------------------------------------------------------------------------------


async def test_a_typed_message_takes_the_durable_path_and_is_answered(client):
    rt = client.server.app[_rt_key()]
    resp = await client.post(
        SEND,
        json={"role": "candidate", "user": "stranger-1", "text": " 你好 ", "client_id": "c" * 16},
    )
    assert resp.status == 202
    body = await resp.json()
    event = await InboundEvent.get(id=body["id"])
    assert (event.platform, event.status, event.event_id) == (
        "web",
        "pending",
        "stranger-1/" + "c" * 16,
    )
    inbound = Inbound.model_validate(event.payload)
    assert (inbound.sender_id, inbound.chat_type, inbound.text) == ("stranger-1", "p2p", "你好")

    again = await client.post(
        SEND,
        json={"role": "candidate", "user": "stranger-1", "text": "你好", "client_id": "c" * 16},
    )
    assert (await again.json()) == {**body, "duplicate": True}
    await drain(rt)
    assert (await InboundEvent.get(id=body["id"])).status == "done"
    replies = await sent_messages("web", "stranger-1")
    assert len(replies) == 1

    history = await (await client.get(HISTORY, params={"user": "stranger-1"})).json()
    mine = [i for i in history["items"] if i["pane"] == "candidate"]
    assert [(i["dir"], i["text"]) for i in mine] == [("in", "你好"), ("out", replies[0]["text"])]
    assert mine[0]["client_id"] == "c" * 16


async def test_a_button_click_becomes_an_action(client):
    resp = await client.post(
        SEND,
        json={"role": "candidate", "user": "cand-1", "action": {"action": "accept", "offer_id": 7}},
    )
    assert resp.status == 202
    event = await InboundEvent.get(id=(await resp.json())["id"])
    inbound = Inbound.model_validate(event.payload)
    assert inbound.kind == "action"
    assert inbound.action == {"action": "accept", "offer_id": 7}


async def test_hr_writes_in_the_hr_group_as_an_admin(open_client):
    """No `hr.admins` configured: the playground's HR user is still an admin."""
    rt = open_client.rt
    assert rt.settings.hr.admins == []
    resp = await open_client.post(SEND, json={"role": "hr", "text": "/help"})
    assert resp.status == 202
    inbound = Inbound.model_validate((await InboundEvent.get(id=(await resp.json())["id"])).payload)
    assert (inbound.sender_id, inbound.chat_type, inbound.chat_id) == (
        PLAYGROUND_HR_ID,
        "group",
        HR_GROUP,
    )
    await drain(rt)
    answers = await sent_messages("web", f"chat:{HR_GROUP}")
    assert len(answers) == 1
    assert answers[0]["text"] != rt.catalog.t("commands.not_admin")
    assert "/history" in answers[0]["text"]


async def test_only_the_playground_hr_user_is_an_admin_and_only_while_it_is_on(
    make_runtime, settings_factory
):
    def turn_for(rt, sender: str) -> Turn:
        inbound = Inbound(platform="web", event_id="e", sender_id=sender)
        return Turn(rt.fx(), inbound, Conversation(platform="web", user_id=sender), None)

    on = await make_runtime(settings_factory(hr={"admins": []}))
    assert turn_for(on, PLAYGROUND_HR_ID).is_admin()
    assert not turn_for(on, "cand-1").is_admin()
    off = await make_runtime(settings_factory(hr={"admins": []}, playground={"enabled": False}))
    assert not turn_for(off, PLAYGROUND_HR_ID).is_admin()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"role": "candidate", "text": "hi"}, "user"),
        ({"role": "candidate", "user": "a/b", "text": "hi"}, "user"),
        ({"role": "candidate", "user": PLAYGROUND_HR_ID, "text": "hi"}, "user"),
        ({"role": "boss", "text": "hi"}, "role"),
        ({"role": "hr"}, "body"),
        ({"role": "hr", "text": "   "}, "body"),
        ({"role": "hr", "text": "/help", "action": {"action": "claim"}}, "body"),
        ({"role": "hr", "action": {"alert_id": 1}}, "action"),
        ({"role": "hr", "action": {"action": "claim", "x": {"nested": 1}}}, "action.x"),
        ({"role": "hr", "text": "x" * 2001}, "text"),
        ({"role": "hr", "text": "hi", "client_id": "short"}, "client_id"),
        ({"role": "hr", "text": "hi", "sender_id": "ceo"}, "sender_id"),
    ],
)
async def test_bad_messages_are_refused_naming_the_field(client, body, field):
    resp = await client.post(SEND, json=body)
    assert resp.status == 422
    fields = [e["field"] for e in (await resp.json())["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert await InboundEvent.all().count() == 0


async def test_malformed_hostile_and_oversized_bodies(client):
    headers = {"Content-Type": "application/json"}
    cases = [
        (b"{not json", headers, 400),
        (b"[1, 2]", headers, 400),
        (b'"text"', headers, 400),
        (b'{"role": "hr", "text": "hi"}', {"Content-Type": "text/plain"}, 415),
        (b'{"role": "hr", "text": "' + b"x" * 20_000 + b'"}', headers, 413),
        (b"\xff\xfe\x00garbage", headers, 400),
    ]
    for data, hdrs, status in cases:
        resp = await client.post(SEND, data=data, headers=hdrs)
        assert resp.status == status, (data[:20], status)
        assert "error" in await resp.json()
    assert await InboundEvent.all().count() == 0


async def test_hostile_text_is_stored_verbatim(client):
    text = "<img src=x onerror=alert(1)> '; DROP TABLE outbox; -- {0.__class__} 🙂"
    resp = await client.post(SEND, json={"role": "candidate", "user": "cand-1", "text": text})
    assert resp.status == 202
    history = await (await client.get(HISTORY, params={"user": "cand-1"})).json()
    assert [i["text"] for i in history["items"]] == [text]


# -- uploads -------------------------------------------------------------------------------------


async def test_an_uploaded_photo_is_stored_privately_and_downloadable_by_the_worker(client):
    rt = client.server.app[_rt_key()]
    data = png_bytes()
    resp = await client.post(UPLOAD, data=upload_form(data, "../../证件照.png"))
    assert resp.status == 202, await resp.text()
    event = await InboundEvent.get(id=(await resp.json())["id"])
    inbound = Inbound.model_validate(event.payload)
    assert inbound.kind == "image" and inbound.sender_id == "cand-1"
    (media,) = inbound.media
    assert (media.kind, media.filename, media.size) == ("image", "证件照.png", len(data))
    path = upload_path(rt.settings.data_dir, media.key)
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(uploads_dir(rt.settings.data_dir).stat().st_mode) == 0o700
    downloaded = await rt.channels["web"].download(media)
    assert downloaded.data == data and downloaded.content_type == "image/png"


async def test_a_pdf_is_a_file(client):
    resp = await client.post(UPLOAD, data=upload_form(pdf_bytes(), "diploma.pdf"))
    assert resp.status == 202
    inbound = Inbound.model_validate((await InboundEvent.get(id=(await resp.json())["id"])).payload)
    assert inbound.kind == "file" and inbound.media[0].kind == "file"


async def test_wrong_types_are_refused(client):
    rt = client.server.app[_rt_key()]
    for data, name in [
        (b"just text pretending\n" * 10, "diploma.pdf"),
        (b"MZ\x90\x00" + b"\x00" * 200, "photo.jpg"),
        (b"GIF89a" + b"\x00" * 100, "anim.gif"),
    ]:
        resp = await client.post(UPLOAD, data=upload_form(data, name))
        assert resp.status == 415, name
        assert (await resp.json())["code"] == "wrong_type"
    assert await InboundEvent.all().count() == 0
    assert list(uploads_dir(rt.settings.data_dir).iterdir()) == []


async def test_an_oversized_upload_is_refused_and_nothing_is_kept(make_runtime, settings_factory):
    client = await client_for(make_runtime, settings_factory(storage={"max_document_mb": 0.05}))
    try:
        big = os.urandom(60 * 1024)
        resp = await client.post(UPLOAD, data=upload_form(b"\x89PNG\r\n\x1a\n" + big))
        assert resp.status == 413
        huge = await client.post(
            UPLOAD,
            data=b"x" * (200 * 1024),
            headers={"Content-Type": "multipart/form-data; boundary=zz"},
        )
        assert huge.status == 413
        assert await InboundEvent.all().count() == 0
        assert list(uploads_dir(client.rt.settings.data_dir).iterdir()) == []
    finally:
        await client.close()


async def test_broken_upload_requests(client):
    assert (await client.post(UPLOAD, json={"user": "cand-1"})).status == 415
    no_file = FormData(default_to_multipart=True)
    no_file.add_field("user", "cand-1")
    no_file.add_field("other", "x")
    assert (await client.post(UPLOAD, data=no_file)).status == 400
    only_user = FormData()
    only_user.add_field("user", "cand-1")
    only_user.add_field("file", b"", filename="empty.png")
    assert (await client.post(UPLOAD, data=only_user)).status == 400
    for user in ("", "../etc", PLAYGROUND_HR_ID):
        resp = await client.post(UPLOAD, data=upload_form(png_bytes(10, 10), user=user))
        assert resp.status == 422, user
    garbage = await client.post(
        UPLOAD,
        data=b"--zz\r\nContent-Disposition: form-data\r\n\r\nnope",
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert garbage.status == 400
    assert await InboundEvent.all().count() == 0


async def test_the_web_channel_reads_only_its_own_uploads(rt):
    web = rt.channels["web"]
    for key in ("../../offerbot.sqlite3", "/etc/passwd", "short", "a" * 16 + "/x"):
        with pytest.raises(PermanentError):
            await web.download(MediaRef(kind="image", key=key))
    with pytest.raises(PermanentError):  # well-formed but gone (pruned)
        await web.download(MediaRef(kind="image", key="A" * 24))


async def test_old_uploads_are_pruned(rt):
    path = upload_path(rt.settings.data_dir, "B" * 24)
    path.write_bytes(b"old")
    fresh = upload_path(rt.settings.data_dir, "C" * 24)
    fresh.write_bytes(b"new")
    os.utime(path, (1, 1))
    assert prune_uploads(rt.settings.data_dir) == 1
    assert not path.exists() and fresh.exists()


# -- what the panes show ---------------------------------------------------------------------


async def _deliver(rt, *pairs: tuple[str, str]) -> None:
    fx = rt.fx()
    for address, text in pairs:
        if address == HR_GROUP:
            await fx.to_hr(Outgoing(text=text), key=f"t:{text}")
        else:
            await fx.to_user("web", address, Outgoing(text=text), key=f"t:{text}")
    await fx.flush()
    await drain(rt)


async def test_history_shows_each_pane_its_own_messages(client):
    rt = client.server.app[_rt_key()]
    await _deliver(rt, ("cand-1", "for one"), ("cand-2", "for two"), (HR_GROUP, "alert"))
    card = Outgoing(
        text="offer",
        title="Offer",
        kind="card",
        actions=({"key": "accept", "label": "接受", "command": "1", "value": {"offer_id": 3}},),
    )
    await rt.fx().to_user("web", "cand-1", card, key="t:card")
    await drain(rt)
    later = rt.clock() + timedelta(hours=3)  # held by quiet hours
    await Outbox.create(
        idempotency_key="t:held",
        platform="web",
        recipient_kind="user",
        recipient_id="cand-1",
        payload=Outgoing(text="good morning").model_dump(mode="json"),
        not_before=later,
    )

    body = await (await client.get(HISTORY, params={"user": "cand-1"})).json()
    seen = [(i["pane"], i["text"], i["status"]) for i in body["items"]]
    assert ("candidate", "for one", "sent") in seen
    assert ("hr", "alert", "sent") in seen
    assert ("candidate", "good morning", "scheduled") in seen
    assert not any(text == "for two" for _, text, _ in seen)
    (offer,) = [i for i in body["items"] if i["text"] == "offer"]
    assert offer["actions"][0]["value"] == {"offer_id": 3}
    assert offer["id"] == "out:t:card"

    hr_only = await (await client.get(HISTORY)).json()
    assert {i["pane"] for i in hr_only["items"]} == {"hr"}
    since = await (await client.get(HISTORY, params={"since": body["now"]})).json()
    assert all(i["text"] == "alert" for i in since["items"])  # only the overlap window


async def test_history_refuses_bad_parameters(client):
    for params in (
        {"user": "a b"},
        {"user": "x" * 65},
        {"since": "yesterday"},
        {"since": "2024-01-01T00:00:00"},
    ):
        for path in (HISTORY, EVENTS):
            resp = await client.get(path, params=params)
            assert resp.status == 400, (path, params)
            assert "error" in await resp.json()


async def _next_event(stream, name: str = "message") -> dict:
    """Read the event stream until an event called `name` arrives; returns its data."""
    event, data = "", ""
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event:
            if event == name:
                return json.loads(data)
            event, data = "", ""


async def test_the_event_stream_pushes_what_the_bot_sends(client):
    rt = client.server.app[_rt_key()]
    async with client.get(EVENTS, params={"user": "cand-1"}) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        await asyncio.wait_for(_next_event(stream, "cursor"), timeout=10)
        await _deliver(rt, ("cand-2", "not mine"), ("cand-1", "hello over sse"))
        item = await asyncio.wait_for(_next_event(stream), timeout=10)
        assert (item["pane"], item["text"], item["dir"]) == ("candidate", "hello over sse", "out")

        # What another process delivered shows up too (from the database).
        await Outbox.create(
            idempotency_key="t:elsewhere",
            platform="web",
            recipient_kind="hr_group",
            recipient_id=HR_GROUP,
            payload=Outgoing(text="from another worker").model_dump(mode="json"),
            not_before=rt.clock(),
            status="sent",
            sent_at=rt.clock(),
        )
        item = await asyncio.wait_for(_next_event(stream), timeout=10)
        assert (item["pane"], item["text"]) == ("hr", "from another worker")


async def test_the_event_stream_shows_the_pages_own_message(client):
    async with client.get(EVENTS, params={"user": "cand-1"}) as stream:
        await asyncio.wait_for(_next_event(stream, "cursor"), timeout=10)
        resp = await client.post(SEND, json={"role": "candidate", "user": "cand-1", "text": "ping"})
        assert resp.status == 202
        item = await asyncio.wait_for(_next_event(stream), timeout=10)
        assert (item["dir"], item["text"], item["pane"]) == ("in", "ping", "candidate")


async def test_event_streams_end_when_the_server_shuts_down(client):
    """A page left open must not hold a stopping server for its shutdown timeout."""
    async with client.get(EVENTS) as stream:
        await asyncio.wait_for(_next_event(stream, "cursor"), timeout=10)
        await client.server.app.shutdown()
        rest = await asyncio.wait_for(stream.content.read(), timeout=10)  # EOF, not a hang
        assert b"event: message" not in rest


async def test_charts_are_served_by_name_only(client):
    rt = client.server.app[_rt_key()]
    charts = rt.settings.data_dir / "charts"
    charts.mkdir()
    (charts / "stats-30d.png").write_bytes(png_bytes(10, 10))
    (rt.settings.data_dir / "secret.png").write_bytes(b"no")
    ok = await client.get("/playground/api/images/stats-30d.png")
    assert ok.status == 200 and ok.headers["Content-Type"] == "image/png"
    for name in ("..%2Fsecret.png", "missing.png", "stats-30d.txt", "%2e%2e.png"):
        assert (await client.get(f"/playground/api/images/{name}")).status == 404, name


# -- the demo ----------------------------------------------------------------------------------


async def test_start_a_demo_creates_everything_through_the_ats_paths(open_client):
    rt = open_client.rt
    resp = await open_client.post("/playground/api/demo")
    assert resp.status == 201
    demo = await resp.json()
    candidate = await Candidate.get(id=demo["candidate"]["id"])
    reapplicant = await Candidate.get(id=demo["reapplicant"]["id"])
    assert candidate.web_id == demo["candidate"]["user"]
    assert candidate.name == rt.catalog.t("playground.demo.candidate_name")
    assert candidate.expectations["remote_days_per_week"] == 2

    offer = await Offer.get(id=demo["offer_id"])
    assert (offer.candidate_id, offer.channel, offer.status) == (candidate.id, "web", "sent")
    application = await Application.get(id=offer.application_id)
    assert await Interview.filter(application_id=application.id).count() == 2

    old = await Offer.get(candidate_id=reapplicant.id)
    assert old.status == "declined" and old.reason_category == "salary"
    assert (await Reason.get(offer_id=old.id)).text == rt.catalog.t(
        "playground.demo.old_decline_reason"
    )
    assert await Application.filter(candidate_id=reapplicant.id).count() == 2

    await drain(rt)
    offer_messages = await sent_messages("web", candidate.web_id)
    assert any(m["actions"] for m in offer_messages), offer_messages  # the offer card
    assert await Alert.filter(candidate_id=reapplicant.id).exists()  # the re-applicant alert
    hr = await sent_messages("web", HR_GROUP)
    assert any(reapplicant.name in m["text"] for m in hr)
    assert not any(reapplicant.phone in m["text"] for m in hr)  # masked in the group

    listed = await (await open_client.get("/playground/api/candidates")).json()
    assert {c["user"] for c in listed["candidates"]} == {candidate.web_id, reapplicant.web_id}


async def test_demo_runs_do_not_mix(open_client):
    rt = open_client.rt
    first = await (await open_client.post("/playground/api/demo")).json()
    second = await (await open_client.post("/playground/api/demo")).json()
    assert first["candidate"]["user"] != second["candidate"]["user"]
    assert second["candidate"]["name"] == rt.catalog.t(
        "playground.demo.numbered_name", name=first["candidate"]["name"], n=2
    )
    await drain(rt)
    # The second run's candidate is no re-applicant: nothing ties them to the first run.
    second_id = second["candidate"]["id"]
    assert not await Alert.filter(candidate_id=second_id, kind__icontains="reappl").exists()


async def test_an_invite_link_binds_a_guest_and_the_offer_follows(client):
    """A candidate the ATS gave no platform id gets an invite; opening the playground link
    (`/playground?code=...`) binds the page's guest user, and the offer arrives."""
    rt = client.server.app[_rt_key()]
    api = "/api/v1"
    req = {"external_id": "r1", "title": "测试工程师", "headcount": 1}
    assert (await client.post(f"{api}/requisitions", json=req, headers=auth())).status == 201
    cand = {"external_id": "c1", "name": "赵六"}
    assert (await client.post(f"{api}/candidates", json=cand, headers=auth())).status == 201
    app = {"candidate_external_id": "c1", "requisition_external_id": "r1"}
    resp = await client.post(f"{api}/applications", json=app, headers=auth())
    offer_body = {
        "application_id": (await resp.json())["id"],
        "salary_monthly": 20000,
        "start_date": "2030-01-01",
    }
    resp = await client.post(f"{api}/offers", json=offer_body, headers=auth())
    offer = await resp.json()
    assert offer["invite_url"] == f"/playground?code={offer['invite_code']}"

    bad = await client.post(SEND, json={"role": "hr", "invite_code": offer["invite_code"]})
    assert bad.status == 422
    wrong_shape = {"role": "candidate", "user": "guest-1", "invite_code": "12345x"}
    assert (await client.post(SEND, json=wrong_shape)).status == 422

    opened = {"role": "candidate", "user": "guest-1", "invite_code": offer["invite_code"]}
    resp = await client.post(SEND, json=opened)
    assert resp.status == 202
    inbound = Inbound.model_validate((await InboundEvent.get(id=(await resp.json())["id"])).payload)
    assert inbound.kind == "event"
    assert inbound.event == {"event": "enter_session", "scene_param": offer["invite_code"]}
    await drain(rt)
    assert (await Candidate.get(external_id="c1")).web_id == "guest-1"
    assert any(m["actions"] for m in await sent_messages("web", "guest-1"))
