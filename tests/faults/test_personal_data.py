"""Personal data stays where it belongs (SPEC §4).

Proven here, through the real app, flows, worker and storage:
- nothing posted to an HR group — every alert kind (`bot.flows.alerts.KINDS`, new and
  merged), the acceptance notice, the re-applicant card, the onboarding notices, claim /
  resolve notices and command answers in the group — carries a full phone number or an
  ID number, even when they sit in the candidate's name, replies, notes and ATS fields;
- documents are files 0600 in 0700 directories, served only by the token-protected API,
  and no path trick reaches them (or anything else on disk) over HTTP;
- logs at INFO and above carry no message bodies, personal data, secrets or access tokens
  during a whole WeCom conversation;
- after `/forget` and after `DELETE /api/v1/candidates/{id}` the person's name, phone,
  e-mail and words are nowhere: not in the bytes (UTF-8 or UTF-16) of any file of the data
  dir (SQLite file, -wal, -shm, documents, embedded Redis), read right after the erasure; on
  PostgreSQL, not in any text or JSON column of any table.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from bot.app import build_app
from bot.channels.base import HR_GROUP, Inbound
from bot.flows import alerts
from bot.storage.models import Alert, Candidate, Document, Offer, Outbox
from tests.conftest import PG_URL
from tests.helpers import API_TOKEN, auth, drain
from tests.offer_steps import api, hire, make_offer, post, said, send
from tests.standins import wecom as wecom_standin
from tests.standins.wecom import running_standin, text_xml

PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"
EMAIL = "ouyang.nana@example.com"
NAME = f"欧阳娜娜 {PHONE} {ID_NUMBER}"
LEAKS = (PHONE, ID_NUMBER, ID_NUMBER.lower(), "138 1234 5678", "138-1234-5678")
WITH_PII = f"我的手机 {PHONE}，身份证 {ID_NUMBER}，也可以打 +86 138-1234-5678"


def hr_leaks(rows: list[Outbox]) -> list[str]:
    found = []
    for row in rows:
        text = json.dumps(row.payload, ensure_ascii=False)
        found += [f"{row.idempotency_key}: {leak}" for leak in LEAKS if leak in text]
    return found


async def hr_rows() -> list[Outbox]:
    """Everything addressed to an HR group: alerts and notices, and answers in group chats."""
    rows = await Outbox.all().order_by("id")
    return [r for r in rows if r.recipient_id == HR_GROUP or r.recipient_id.startswith("chat:")]


# -- HR group messages --------------------------------------------------------------------


def pii_details() -> dict[str, Any]:
    """Every detail an alert renderer shows, each carrying a phone and an ID number."""
    return {
        "reason_category": "family",
        "reason_text": WITH_PII,
        "mismatches": [f"期望 {WITH_PII}"],
        "notes": WITH_PII,
        "waited": f"3 小时 {PHONE}",
        "reminders": 2,
        "last_message": WITH_PII,
        "deadline": "2030-01-01 10:00",
        "delivery_error": WITH_PII,
        "messages": [WITH_PII],
    }


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_every_hr_group_message_masks_phones_and_drops_id_numbers(
    settings_factory, make_runtime, language
):
    rt = await make_runtime(settings_factory(company={"quiet_hours": [], "language": language}))
    # Every alert kind has a title in the catalog and is raised below: a new kind is
    # covered as soon as it exists.
    assert set(rt.catalog.raw("alerts.titles")) == set(alerts.KINDS)
    async with api(rt) as client:
        # Through the flows: an advisory at sending, a hesitation, then acceptance.
        await hire(
            client,
            name=NAME,
            phone=PHONE,
            expectations={"salary_min": 90000, "notes": WITH_PII, "location": WITH_PII},
            requisition={"title": f"后端 {PHONE}"},
        )
        await drain(rt)
        await send(rt, said(f"我还要考虑一下，{WITH_PII}"))
        await send(rt, said("1"))
        # A second person declines with a reason, then applies again (re-applicant card).
        await hire(client, web_id="cand2", name=f"李雷{PHONE}", phone=PHONE)
        await drain(rt)
        await send(rt, said("2", user="cand2"))
        await send(rt, said(f"家里原因 {WITH_PII}", user="cand2"))
        second = await Candidate.get(web_id="cand2")
        await post(client, "requisitions", {"external_id": "req-2", "title": "产品经理"})
        await post(
            client,
            "applications",
            {"candidate_id": second.id, "requisition_external_id": "req-2"},
        )
        await drain(rt)

    # Every alert kind, new and merged, rendered from data full of personal numbers.
    first = await Candidate.get(web_id="cand1")
    offer = await Offer.filter(candidate_id=first.id).first()
    fx = rt.fx()
    raised: set[str] = set()
    for merge in (False, True):
        for kind in alerts.KINDS:
            async with in_transaction():
                await alerts.raise_alert(
                    fx,
                    kind,
                    candidate=first,
                    offer=offer,
                    reply=WITH_PII,
                    concerns=["salary"],
                    details=pii_details(),
                    merge=merge,
                )
            raised.add((await Alert.all().order_by("-id").first()).kind)
    # HR works the alerts in the group: claim and resolve with a note full of numbers.
    alert = await Alert.filter(candidate_id=first.id).first()
    for text in (f"/claim {alert.id}", f"/resolve {alert.id} 已联系 {WITH_PII}",
                 f"/history {PHONE}", f"/note {PHONE} {WITH_PII}"):  # fmt: skip
        hr = Inbound(
            platform="web",
            event_id=f"hr-{text}",
            sender_id="hr1",
            chat_type="group",
            chat_id="hrchat",
            mentioned_bot=True,
            text=text,
        )
        await send(rt, hr)
    # The start date comes: the onboarding notices go to HR.
    start = offer.start_date
    later = rt.clock() + timedelta(days=(start - rt.clock().date()).days + 1)
    rt.clock = lambda: later
    await drain(rt)

    rows = await hr_rows()
    assert raised == set(alerts.KINDS)
    assert await Alert.filter(kind="reapply").exists()
    keys = " ".join(r.idempotency_key for r in rows)
    for expected in (":accepted@", "alert:", "docs:", "cmd:"):
        assert expected in keys, f"no HR message {expected} in {keys}"
    assert len(rows) > len(alerts.KINDS) * 2
    leaks = hr_leaks(rows)
    assert leaks == [], "\n".join(leaks)
    # The masked form is what HR sees.
    assert any("138****5678" in json.dumps(r.payload, ensure_ascii=False) for r in rows)


# -- documents --------------------------------------------------------------------------


def png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def modes_below(root: Path, path: Path) -> list[tuple[str, int]]:
    """(path, mode) of `path` and each directory between it and `root`."""
    out, p = [], path
    while True:
        out.append((str(p), stat.S_IMODE(p.stat().st_mode)))
        if p == root:
            return out
        p = p.parent


async def test_documents_are_private_on_disk_and_over_http(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(server={"host": "0.0.0.0", "port": 0}))
    data = png()
    person = await Candidate.create(name=NAME, phone=PHONE, web_id="cand1")
    key, digest = rt.documents.put(person.id, data, "png")
    async with api(rt) as client:
        await hire(client, web_id=None, name="另一个人", phone=None)
        offer = await Offer.all().first()
        doc = await Document.create(
            candidate=person,
            offer_id=offer.id,
            item="photo",
            sha256=digest,
            storage_key=key,
            size=len(data),
            mime="image/png",
        )
        form = FormData()
        form.add_field("user", "cand1")
        form.add_field("file", data, filename="me.png", content_type="image/png")
        resp = await client.post("/playground/api/upload", data=form, headers=auth())
        assert resp.status == 202, await resp.text()

        data_dir = rt.settings.data_dir.resolve()
        files = [p for p in data_dir.rglob("*") if p.is_file() and p.read_bytes() == data]
        assert len(files) >= 2  # the document and the upload
        for path in files:
            for where, mode in modes_below(data_dir, path.resolve())[:-1]:
                want = 0o600 if where == str(path.resolve()) else 0o700
                assert mode == want, f"{where}: {oct(mode)}"

        url = f"/api/v1/offers/{offer.id}/documents/{doc.id}"
        resp = await client.get(url, headers=auth())
        assert resp.status == 200 and await resp.read() == data  # the one way in
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            assert (await client.get(url, headers=headers)).status == 401
        # Every route that serves files, with every path trick toward the stored files.
        targets = {str(p.relative_to(data_dir)) for p in files} | {str(p) for p in files}
        targets |= {key, f"documents/{key}", str(rt.documents.path(key))}
        tricks = set()
        for target in targets:
            for prefix in ("", "../", "../../", "/"):
                raw = prefix + target
                tricks |= {
                    raw,
                    raw.replace("/", "%2f"),
                    raw.replace("/", "%2F").replace(".", "%2e"),
                    raw.replace("/", "%5c"),
                    raw.replace("../", "..%252f"),
                }
        served = ["/playground/{}", "/playground/api/images/{}", "/api/v1/offers/1/documents/{}"]
        for pattern in served:
            for trick in sorted(tricks):
                for headers in ({}, auth()):
                    resp = await client.get(pattern.format(trick), headers=headers)
                    body = await resp.read()
                    assert data not in body, (pattern, trick)
                    assert resp.status in (400, 401, 404), (pattern, trick, resp.status)


# -- logs ---------------------------------------------------------------------------------


async def test_info_logs_carry_no_bodies_personal_data_or_secrets(
    settings_factory, make_runtime, caplog
):
    caplog.set_level(logging.DEBUG)
    async with running_standin() as standin:
        settings = settings_factory(wecom=standin.settings())
        rt = await make_runtime(settings)
        signer = wecom_standin.CallbackSigner()
        async with TestClient(TestServer(build_app(rt))) as client:
            offer = await make_offer(
                client,
                requisition={"external_id": "r", "title": "后端工程师"},
                candidate={"external_id": "c", "name": NAME, "phone": PHONE, "email": EMAIL,
                           "wecom_user_id": "nana"},
                salary_monthly="31337",
                channel="wecom",
            )  # fmt: skip
            person = {"id": offer["candidate_id"]}
            await drain(rt)
            words = [f"我还要考虑 {WITH_PII}", "薪资能不能再谈谈", "2", "家里人不同意"]
            for text in words:
                query, body = signer.post(text_xml("nana", text))
                assert (await client.post("/wecom/callback", params=query, data=body)).status == 200
            await drain(rt)
            standin.expire_tokens()  # a refresh: a second access token
            query, body = signer.post(text_xml("hr_zhang", f"/history {PHONE}"))
            assert (await client.post("/wecom/callback", params=query, data=body)).status == 200
            await drain(rt)
            resp = await client.delete(f"/api/v1/candidates/{person['id']}", headers=auth())
            assert resp.status == 204
    assert standin.tokens_issued >= 2
    access_tokens = {c.query["access_token"] for c in standin.calls if c.query.get("access_token")}
    assert access_tokens
    secrets = {
        wecom_standin.SECRET,
        wecom_standin.TOKEN,
        wecom_standin.AES_KEY,
        wecom_standin.ROBOT_KEY,
        API_TOKEN,
        *access_tokens,
    }
    personal = {NAME, "欧阳娜娜", PHONE, ID_NUMBER, EMAIL, "138-1234-5678", *words[:2], words[3]}
    # aiohttp.access lines for /cgi-bin/ are the stand-in's own server: the platform's log.
    logged = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO
        and not (r.name == "aiohttp.access" and "/cgi-bin/" in r.getMessage())
    ]
    assert logged  # the conversation did log
    lines = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in logged
    )
    assert [(s, line) for s in secrets for line in lines.splitlines() if s in line] == []
    assert [p for p in personal if p in lines] == []


# -- erasure ------------------------------------------------------------------------------


async def _text_columns(conn) -> list[tuple[str, str]]:
    if PG_URL:
        rows = await conn.execute_query_dict(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb', 'character')"
        )
        return [(r["table_name"], r["column_name"]) for r in rows]
    out = []
    tables = await conn.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    for t in tables:
        for col in await conn.execute_query_dict(f'PRAGMA table_info("{t["name"]}")'):
            if any(k in (col["type"] or "").upper() for k in ("CHAR", "TEXT", "JSON", "CLOB")):
                out.append((t["name"], col["name"]))
    return out


async def leftovers(rt, needles: list[str]) -> list[str]:
    """Where any needle still is: every text and JSON column of every table (both
    backends), the SQLite file's bytes, and every file in the data dir."""
    conn = Tortoise.get_connection("default")
    found: list[str] = []
    for table, column in await _text_columns(conn):
        cast = "::text" if PG_URL else ""
        rows = await conn.execute_query_dict(f'SELECT "{column}"{cast} AS v FROM "{table}"')
        for row in rows:
            value = row["v"] if isinstance(row["v"], str) else json.dumps(row["v"])
            found += [f"{table}.{column}: {n}" for n in needles if n in value]
    # Read as the erasure left them: no checkpoint or VACUUM here (the bot must do it).
    encoded = {n: [n.encode(), n.encode("utf-16-le")] for n in needles}
    files = list(rt.settings.data_dir.rglob("*"))
    if not PG_URL:  # the test database sits beside the data dir: its file, -wal and -shm
        db_file = Path(rt.settings.database.url.split("://", 1)[1])
        files += db_file.parent.glob(db_file.name + "*")
    for path in files:
        if path.is_file():
            blob = path.read_bytes()
            found += [
                f"file {path}: {n}" for n, bs in encoded.items() if any(b in blob for b in bs)
            ]
    return found


def json_escaped(text: str) -> str:
    """How a JSON column stores text when written with ensure_ascii."""
    return json.dumps(text)[1:-1]


async def a_person_with_history(rt, client, *, web_id: str, name: str) -> dict:
    """A candidate with an offer, replies, an alert, a note and a document."""
    answer = await hire(
        client,
        web_id=web_id,
        name=name,
        phone=PHONE,
        expectations={"salary_min": 90000, "notes": "只接受远程"},
    )
    person = await Candidate.get(web_id=web_id)
    await Candidate.filter(id=person.id).update(email=EMAIL)
    await drain(rt)
    for text in REPLIES:
        await send(rt, said(text, user=web_id))
    await send(rt, said("2", user=web_id))
    await send(rt, said(REPLIES[0] + "，还是算了", user=web_id))
    resp = await client.post(
        "/playground/api/upload",
        data=_form(web_id),
        headers=auth(),
    )
    assert resp.status == 202, await resp.text()
    await drain(rt)
    data = png()
    key, digest = rt.documents.put(person.id, data, "png")
    await Document.create(
        candidate=person,
        offer_id=answer["id"],
        item="photo",
        sha256=digest,
        storage_key=key,
        size=len(data),
        mime="image/png",
    )
    return {"id": person.id, "key": key}


def _form(user: str) -> FormData:
    form = FormData()
    form.add_field("user", user)
    form.add_field("file", png(), filename="证件照.png", content_type="image/png")
    return form


REPLIES = ("我家里人不太同意这个工作地点", "薪资能否再谈谈，我的期望是九万")


def needles(name: str) -> list[str]:
    out = [name, PHONE, EMAIL, *REPLIES, "只接受远程"]
    return out + [json_escaped(n) for n in out if json_escaped(n) != n]


@pytest.mark.parametrize("how", ["forget", "delete"])
async def test_erasure_leaves_no_personal_data_in_the_database_or_on_disk(
    settings_factory, make_runtime, how
):
    rt = await make_runtime(settings_factory(server={"host": "0.0.0.0", "port": 0}))
    name = "欧阳娜娜" if how == "forget" else "上官婉儿"
    async with TestClient(TestServer(build_app(rt))) as client:
        person = await a_person_with_history(rt, client, web_id="cand1", name=name)
        # HR looks them up in the group (answers naming them are posted there too).
        for text in (f"/history {name}", f"/note {name} {REPLIES[1]}"):
            await send(rt, _hr(text))
        before = await leftovers(rt, needles(name))
        assert any(name in hit for hit in before)  # the probe sees what is there
        assert rt.documents.path(person["key"]).exists()
        if how == "forget":
            await send(rt, _hr(f"/forget {name}"))
            await send(rt, _hr(f"/forget {person['id']} confirm"))
        else:
            resp = await client.delete(f"/api/v1/candidates/{person['id']}", headers=auth())
            assert resp.status == 204
        await drain(rt)
    assert (await Candidate.get(id=person["id"])).erased_at is not None
    assert not rt.documents.path(person["key"]).exists()
    left = await leftovers(rt, needles(name))
    assert left == [], "\n".join(left)


def _hr(text: str) -> Inbound:
    return Inbound(
        platform="web",
        event_id=f"hr-{os.urandom(6).hex()}",
        sender_id="hr1",
        chat_type="group",
        chat_id="hrchat",
        mentioned_bot=True,
        text=text,
    )
