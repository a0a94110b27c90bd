"""The ATS REST API (SPEC §3.3) through real HTTP requests, a real database and Redis.

The offer conversation itself belongs to tests/test_offer_flow.py: here an offer is only
checked for what the API guarantees (201, its id, the fields echoed back).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.handlers.api import ROUTES
from bot.storage.models import Candidate, Document, Offer, Outbox, TimelineEvent
from tests.helpers import auth

API = "/api/v1"
HOSTILE_SQL = "Robert'); DROP TABLE candidate;--"
# 200 characters (the name column's size) of CJK, emoji, right-to-left and combining marks.
HOSTILE_UNICODE = ("张伟🙂עברית\u0301é" * 20)[:200]


def sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def post(client, path: str, body, *, headers=None, status: int | None = None):
    resp = await client.post(API + path, json=body, headers=headers or auth())
    data = await resp.json() if resp.status != 204 else None
    if status is not None:
        assert resp.status == status, data
    return resp.status, data


async def get(client, path: str, *, status: int = 200):
    resp = await client.get(API + path, headers=auth())
    data = await resp.json()
    assert resp.status == status, data
    return data


# -- fixtures: a small world --------------------------------------------------------------


REQUISITION = {
    "external_id": "REQ-1",
    "title": "后端工程师",
    "department": "研发",
    "headcount": 2,
    "urgency": "high",
    "status": "open",
    "remote_days_per_week": 1,
    "overtime": "occasional",
    "location": "上海",
    "documents": ["id_card_front", "diploma", "photo"],
    "onboarding_guide": "周一 9:30 到前台找王老师",
}
CANDIDATE = {
    "external_id": "CAND-1",
    "name": "张伟",
    "phone": "+86 138-0013-8000",
    "email": "zhang.wei@example.com",
    "wecom_user_id": "zhangwei",
    "expectations": {"salary_min": 30000, "remote_days_per_week": 2, "location": "上海"},
}


async def make_application(client) -> dict:
    await post(client, "/requisitions", REQUISITION, status=201)
    await post(client, "/candidates", CANDIDATE, status=201)
    _, app = await post(
        client,
        "/applications",
        {
            "external_id": "APP-1",
            "candidate_external_id": "CAND-1",
            "requisition_external_id": "REQ-1",
            "applied_at": "2024-03-01T10:00:00+08:00",
            "source": "Boss直聘",
        },
        status=201,
    )
    return app


async def make_offer(client) -> dict:
    app = await make_application(client)
    _, offer = await post(
        client,
        "/offers",
        {"application_id": app["id"], "salary_monthly": 32000, "start_date": "2030-05-06"},
        status=201,
    )
    return offer


# -- creates are upserts ------------------------------------------------------------------


async def test_requisition_is_created_then_updated_with_the_same_id(client):
    _, created = await post(client, "/requisitions", REQUISITION, status=201)
    assert created["id"] > 0
    assert {k: created[k] for k in REQUISITION} == REQUISITION
    changed = {"external_id": "REQ-1", "title": "高级后端工程师", "status": "paused"}
    _, updated = await post(client, "/requisitions", changed, status=200)
    assert updated["id"] == created["id"]
    assert updated["title"] == "高级后端工程师" and updated["status"] == "paused"
    # Fields not sent are kept: an ATS pushing part of a record does not wipe the rest.
    assert updated["headcount"] == 2 and updated["documents"] == REQUISITION["documents"]


async def test_requisition_defaults(client):
    _, created = await post(client, "/requisitions", {"external_id": "R2", "title": "文员"})
    assert (created["headcount"], created["urgency"], created["status"]) == (1, "normal", "open")
    assert created["documents"] is None  # the config's checklist applies


async def test_candidate_upsert_stores_normalised_phone(client):
    _, created = await post(client, "/candidates", CANDIDATE, status=201)
    assert created["phone"] == "+86 138-0013-8000"  # unmasked, as given, for the ATS
    assert created["expectations"] == CANDIDATE["expectations"]
    row = await Candidate.get(id=created["id"])
    assert row.phone_norm == "13800138000"
    _, updated = await post(
        client, "/candidates", {"external_id": "CAND-1", "name": "张伟", "phone": "13900139000"}
    )
    assert updated["id"] == created["id"]
    assert (await Candidate.get(id=created["id"])).phone_norm == "13900139000"
    assert updated["email"] == CANDIDATE["email"]


async def test_candidate_without_external_id_is_always_new(client):
    _, first = await post(client, "/candidates", {"name": "李娜"}, status=201)
    _, second = await post(client, "/candidates", {"name": "李娜"}, status=201)
    assert first["id"] != second["id"]


async def test_application_upsert_by_external_id_and_by_date(client):
    app = await make_application(client)
    assert app["applied_at"] == "2024-03-01T10:00:00+08:00"  # company time, offset shown
    cand = await Candidate.get(external_id="CAND-1")
    assert app["candidate_id"] == cand.id
    _, again = await post(
        client,
        "/applications",
        {
            "external_id": "APP-1",
            "candidate_id": cand.id,
            "requisition_external_id": "REQ-1",
            "source": "内推",
        },
        status=200,
    )
    assert again["id"] == app["id"] and again["source"] == "内推"
    # Without an external id, the same candidate, requisition and moment is the same one.
    body = {
        "candidate_external_id": "CAND-1",
        "requisition_external_id": "REQ-1",
        "applied_at": "2024-06-01 09:00:00",  # no offset: company time (Asia/Shanghai)
    }
    _, first = await post(client, "/applications", body, status=201)
    assert first["applied_at"] == "2024-06-01T09:00:00+08:00"
    _, second = await post(client, "/applications", body, status=200)
    assert second["id"] == first["id"]


async def test_application_needs_exactly_one_candidate_reference(client):
    await make_application(client)
    for body in (
        {"requisition_external_id": "REQ-1"},
        {"requisition_external_id": "REQ-1", "candidate_id": 1, "candidate_external_id": "C"},
    ):
        _, data = await post(client, "/applications", body, status=422)
        assert [e["field"] for e in data["errors"]] == ["candidate_id"]


async def test_application_unknown_references_are_404_naming_the_field(client):
    await make_application(client)
    _, data = await post(
        client,
        "/applications",
        {"candidate_external_id": "NOBODY", "requisition_external_id": "REQ-1"},
        status=404,
    )
    assert data["field"] == "candidate_external_id"
    _, data = await post(
        client,
        "/applications",
        {"candidate_external_id": "CAND-1", "requisition_external_id": "NOPE"},
        status=404,
    )
    assert data["field"] == "requisition_external_id"
    _, data = await post(
        client,
        "/applications",
        {"candidate_id": 987654, "requisition_external_id": "REQ-1"},
        status=404,
    )
    assert data["field"] == "candidate_id"


async def test_interview_upsert_by_application_and_round(client):
    app = await make_application(client)
    body = {
        "application_id": app["id"],
        "round": 1,
        "interviewer": "王经理",
        "score": 4,
        "notes": "沟通清楚",
        "held_at": "2024-03-05T14:00:00+08:00",
    }
    _, first = await post(client, "/interviews", body, status=201)
    assert first["score"] == 4 and first["held_at"] == "2024-03-05T14:00:00+08:00"
    _, second = await post(
        client,
        "/interviews",
        {
            "application_external_id": "APP-1",
            "round": 1,
            "score": 5,
            "held_at": "2024-03-05T14:00:00+08:00",
            "feedback_sent_at": "2024-03-06T10:00:00+08:00",
        },
        status=200,
    )
    assert second["id"] == first["id"]
    assert (second["score"], second["notes"]) == (5, "沟通清楚")
    assert second["feedback_sent_at"] == "2024-03-06T10:00:00+08:00"
    _, third = await post(client, "/interviews", {**body, "round": 2}, status=201)
    assert third["id"] != first["id"]


async def test_interview_for_unknown_application_is_404(client):
    _, data = await post(
        client,
        "/interviews",
        {"application_id": 4242, "round": 1, "held_at": "2024-03-05T14:00:00+08:00"},
        status=404,
    )
    assert data["field"] == "application_id"


# -- offers -------------------------------------------------------------------------------


async def test_offer_is_created_with_its_fields_echoed(client):
    app = await make_application(client)
    body = {
        "application_id": app["id"],
        "salary_monthly": 32000.5,
        "currency": "cny",
        "start_date": "2030-05-06",
        "expires_at": "2030-04-30T18:00:00+08:00",
        "channel": "wecom",
        "contract_url": "https://hr.example.com/contract/1",
    }
    _, offer = await post(client, "/offers", body, status=201)
    assert offer["id"] > 0 and offer["application_id"] == app["id"]
    assert offer["salary_monthly"] == 32000.5
    assert offer["currency"] == "CNY"
    assert offer["start_date"] == "2030-05-06"
    assert offer["expires_at"] == "2030-04-30T18:00:00+08:00"
    assert offer["channel"] == "wecom"
    assert offer["contract_url"] == body["contract_url"]
    assert offer["candidate_id"] == app["candidate_id"]


async def test_offer_by_application_external_id(client):
    await make_application(client)
    _, offer = await post(
        client,
        "/offers",
        {"application_external_id": "APP-1", "salary_monthly": 30000, "start_date": "2030-05-06"},
        status=201,
    )
    assert offer["salary_monthly"] == 30000


async def test_offer_for_unknown_application_is_404(client):
    _, data = await post(
        client,
        "/offers",
        {"application_id": 999, "salary_monthly": 30000, "start_date": "2030-05-06"},
        status=404,
    )
    assert data["field"] == "application_id"
    assert await Offer.all().count() == 0


async def test_a_second_open_offer_for_one_application_is_refused(client):
    offer = await make_offer(client)
    _, data = await post(
        client,
        "/offers",
        {
            "application_id": offer["application_id"],
            "salary_monthly": 1,
            "start_date": "2030-01-01",
        },
        status=409,
    )
    assert str(offer["id"]) in data["error"]
    assert await Offer.all().count() == 1


async def test_offer_validation_names_every_field(client):
    app = await make_application(client)
    _, data = await post(
        client,
        "/offers",
        {
            "application_id": app["id"],
            "salary_monthly": 0,
            "start_date": "next monday",
            "channel": "sms",
            "currency": "yuan",
            "contract_url": "javascript:alert(1)",
            "bonus": 1,
        },
        status=422,
    )
    fields = {e["field"] for e in data["errors"]}
    assert fields == {
        "salary_monthly",
        "start_date",
        "channel",
        "currency",
        "contract_url",
        "bonus",
    }
    assert all(e["message"] for e in data["errors"])


async def test_get_offer_shows_status_timestamps_documents_and_timeline(client, rt):
    offer = await make_offer(client)
    row = await Offer.get(id=offer["id"])
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 64
    key, digest = rt.documents.put(row.candidate_id, png, "png")
    doc = await Document.create(
        candidate_id=row.candidate_id,
        offer_id=row.id,
        item="photo",
        sha256=digest,
        storage_key=key,
        size=len(png),
        mime="image/png",
        filename="me.png",
    )
    await TimelineEvent.create(candidate_id=row.candidate_id, offer_id=row.id, kind="test_event")
    data = await get(client, f"/offers/{offer['id']}")
    assert data["id"] == offer["id"] and data["status"] == "sent"
    for stamp in ("created_at", "accepted_at", "declined_at", "closed_at", "onboarded_at"):
        assert stamp in data
    assert data["created_at"].endswith("+08:00")  # ISO 8601 with the company's offset
    assert data["reminders_sent"] == 0
    [listed] = data["documents"]
    assert listed["id"] == doc.id and listed["sha256"] == digest and listed["size"] == len(png)
    assert listed["item"] == "photo" and listed["mime"] == "image/png"
    assert listed["download_url"] == f"{API}/offers/{offer['id']}/documents/{doc.id}"
    assert "test_event" in [e["kind"] for e in data["timeline"]]

    resp = await client.get(listed["download_url"], headers=auth())
    assert resp.status == 200
    assert resp.content_type == "image/png"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert await resp.read() == png
    resp = await client.get(listed["download_url"])
    assert resp.status == 401
    await get(client, f"/offers/{offer['id']}/documents/{doc.id + 1}", status=404)
    # The same document asked for under another offer's id is not found.
    await get(client, f"/offers/{offer['id'] + 1}/documents/{doc.id}", status=404)
    rt.documents.path(key).unlink()
    await get(client, f"/offers/{offer['id']}/documents/{doc.id}", status=404)


async def test_get_offer_unknown_or_malformed_id_is_404(client):
    await get(client, "/offers/12345", status=404)
    await get(client, "/offers/abc", status=404)
    await get(client, "/offers/99999999999999999999", status=404)
    await get(client, "/offers/" + "9" * 5000, status=404)
    await get(client, "/offers/²", status=404)
    await get(client, "/offers/١٢", status=404)


async def test_withdraw_an_open_offer_once(client):
    offer = await make_offer(client)
    _, data = await post(client, f"/offers/{offer['id']}/withdraw", None, status=200)
    assert data["id"] == offer["id"] and data["status"] == "withdrawn"
    assert data["withdrawn_at"] is not None
    _, again = await post(client, f"/offers/{offer['id']}/withdraw", None, status=409)
    assert "withdrawn" in again["error"]
    await post(client, "/offers/777/withdraw", None, status=404)


async def test_onboard_only_an_accepted_offer(client):
    offer = await make_offer(client)
    _, data = await post(client, f"/offers/{offer['id']}/onboard", None, status=409)
    assert "accepted" in data["error"]
    await Offer.filter(id=offer["id"]).update(status="accepted", accepted_at=datetime.now(UTC))
    _, data = await post(client, f"/offers/{offer['id']}/onboard", None, status=200)
    assert data["status"] == "onboarded" and data["onboarded_at"] is not None
    kinds = await TimelineEvent.filter(offer_id=offer["id"]).values_list("kind", flat=True)
    assert "offer_onboarded" in kinds
    await post(client, f"/offers/{offer['id']}/onboard", None, status=409)
    await post(client, "/offers/777/onboard", None, status=404)


# -- candidates ---------------------------------------------------------------------------


async def test_get_candidate_shows_the_whole_history_unmasked(client, rt):
    offer = await make_offer(client)
    cid = offer["candidate_id"]
    await post(
        client,
        "/interviews",
        {
            "application_external_id": "APP-1",
            "round": 1,
            "score": 4,
            "notes": "基础扎实",
            "held_at": "2024-03-05T14:00:00+08:00",
        },
        status=201,
    )
    candidate = await Candidate.get(id=cid)
    fx = rt.fx()
    from bot.channels.base import Outgoing
    from bot.storage.models import Alert, Note

    await fx.to_candidate(
        candidate, Outgoing(text="您好，张伟"), "api-test-1", platform="web", address="web-zw"
    )
    await Alert.create(kind="hesitate", candidate_id=cid, offer_id=offer["id"], data={"x": 1})
    await Note.create(candidate_id=cid, author="wecom:hr_zhang", text="下周再联系")
    data = await get(client, f"/candidates/{cid}")
    assert data["id"] == cid and data["name"] == "张伟"
    assert data["phone"] == "+86 138-0013-8000" and data["email"] == CANDIDATE["email"]
    assert [a["external_id"] for a in data["applications"]] == ["APP-1"]
    assert [i["notes"] for i in data["interviews"]] == ["基础扎实"]
    assert [o["id"] for o in data["offers"]] == [offer["id"]]
    assert "您好，张伟" in [m["text"] for m in data["messages"]]
    assert "hesitate" in [a["kind"] for a in data["alerts"]]
    assert [n["text"] for n in data["notes"]] == ["下周再联系"]
    assert isinstance(data["timeline"], list)


async def test_get_unknown_candidate_is_404(client):
    await get(client, "/candidates/31337", status=404)
    await get(client, "/candidates/-1", status=404)


async def test_delete_candidate_erases_and_answers_204(client):
    _, cand = await post(client, "/candidates", CANDIDATE, status=201)
    resp = await client.delete(f"{API}/candidates/{cand['id']}", headers=auth())
    assert resp.status == 204
    data = await get(client, f"/candidates/{cand['id']}")
    assert data["name"] == f"已删除#{cand['id']}"
    assert (data["phone"], data["email"], data["expectations"]) == (None, None, None)
    assert data["erased_at"] is not None
    resp = await client.delete(f"{API}/candidates/{cand['id'] + 100}", headers=auth())
    assert resp.status == 404
    resp = await client.delete(f"{API}/candidates/{cand['id']}")
    assert resp.status == 401


# -- stats ----------------------------------------------------------------------------------


async def test_stats_default_and_explicit_window(client):
    assert (await get(client, "/stats"))["days"] == 30
    assert (await get(client, "/stats?days=7"))["days"] == 7


@pytest.mark.parametrize("query", ["days=0", "days=3651", "days=abc", "days=7&extra=1"])
async def test_stats_rejects_bad_query(client, query):
    data = await get(client, f"/stats?{query}", status=422)
    assert data["errors"][0]["field"] in ("days", "extra")


# -- authentication -------------------------------------------------------------------------

PRIVATE = [r for r in ROUTES if not r.public]


@pytest.mark.parametrize("route", PRIVATE, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong-token"), {"Authorization": "Basic dGVzdDp0ZXN0"}, {"Authorization": "Bearer"}],
    ids=["missing", "wrong", "basic", "empty"],
)
async def test_every_route_needs_the_token(client, route, headers):
    resp = await client.request(
        route.method, API + sample_path(route.path), headers=headers, json={}
    )
    assert resp.status == 401
    assert (await resp.json())["error"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_api_is_disabled_without_a_token(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(api={"token": ""}))
    async with TestClient(TestServer(build_app(rt))) as c:
        for path in ("/requisitions", "/openapi.json", "/offers/1"):
            resp = await c.get(API + path, headers=auth(""))
            assert resp.status == 404
            assert "disabled" in (await resp.json())["error"]
        resp = await c.post(API + "/candidates", json={"name": "x"}, headers=auth(""))
        assert resp.status == 404
    assert await Candidate.all().count() == 0


# -- bad input ------------------------------------------------------------------------------

BODY_ROUTES = [r for r in ROUTES if r.body is not None]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.path)
async def test_bad_bodies_get_clear_json_errors(client, route):
    url = API + route.path
    cases = [
        (b'{"name": ', "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'"just a string"', "application/json", 400),
        (b"", "application/json", 400),
        (b'{"salary_monthly": NaN}', "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (b"\xff\xfe not utf-8", "application/json", 400),
        (b'{"name": "x"}', "text/plain", 415),
        (b"name=x", "application/x-www-form-urlencoded", 415),
        (b'{"a": "' + b"x" * (1024 * 1024 + 10) + b'"}', "application/json", 413),
    ]
    for body, content_type, status in cases:
        resp = await client.post(url, data=body, headers={**auth(), "Content-Type": content_type})
        assert resp.status == status, (body[:30], content_type, await resp.text())
        assert (await resp.json())["error"]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.path)
async def test_unknown_and_missing_fields_are_listed(client, route):
    _, data = await post(client, route.path, {"nonsense": 1, "also_wrong": "x"}, status=422)
    fields = {e["field"] for e in data["errors"]}
    assert {"nonsense", "also_wrong"} <= fields
    required = {name for name, f in route.body.model_fields.items() if f.is_required()}
    assert required <= fields


async def test_invalid_values_name_nested_fields(client):
    _, data = await post(
        client,
        "/candidates",
        {
            "name": "",
            "phone": "call me maybe",
            "email": "not-an-email",
            "expectations": {"salary_min": -5, "remote_days_per_week": 9, "pets": "cat"},
        },
        status=422,
    )
    assert {e["field"] for e in data["errors"]} == {
        "name",
        "phone",
        "email",
        "expectations.salary_min",
        "expectations.remote_days_per_week",
        "expectations.pets",
    }
    _, data = await post(
        client,
        "/requisitions",
        {
            "external_id": "R",
            "title": "T",
            "urgency": "asap",
            "headcount": -1,
            "documents": ["photo", "passport"],
            "overtime": "always",
            "status": "maybe",
        },
        status=422,
    )
    assert {e["field"] for e in data["errors"]} == {
        "urgency",
        "headcount",
        "documents",
        "overtime",
        "status",
    }
    _, data = await post(
        client,
        "/interviews",
        {"application_id": 2**40, "round": 0, "score": 6, "held_at": "yesterday"},
        status=422,
    )
    assert {e["field"] for e in data["errors"]} == {"application_id", "round", "score", "held_at"}


async def test_hostile_strings_are_stored_verbatim_and_harmless(client):
    body = {"external_id": HOSTILE_SQL[:128], "name": HOSTILE_SQL, "email": "a@b.co"}
    _, created = await post(client, "/candidates", body, status=201)
    assert created["name"] == HOSTILE_SQL
    _, uni = await post(client, "/candidates", {"name": HOSTILE_UNICODE}, status=201)
    assert uni["name"] == HOSTILE_UNICODE
    data = await get(client, f"/candidates/{uni['id']}")
    assert data["name"] == HOSTILE_UNICODE
    assert await Candidate.all().count() == 2  # the table is still there
    _, again = await post(client, "/candidates", body, status=200)
    assert again["id"] == created["id"]
    _, data = await post(client, "/candidates", {"name": HOSTILE_UNICODE + "多"}, status=422)
    assert data["errors"][0]["field"] == "name"
    _, data = await post(client, "/candidates", {"name": "nul\x00byte"}, status=422)
    assert data["errors"][0]["field"] == "name"
    long_note = "注意" * 5000
    _, req = await post(
        client,
        "/requisitions",
        {"external_id": "R-uni", "title": HOSTILE_UNICODE, "onboarding_guide": long_note},
        status=201,
    )
    assert req["onboarding_guide"] == long_note


async def test_unknown_routes_and_methods_answer_json(client):
    resp = await client.get(API + "/nothing/here", headers=auth())
    assert resp.status == 404 and (await resp.json())["error"]
    resp = await client.delete(API + "/offers/1", headers=auth())
    assert resp.status == 405 and "GET" in resp.headers["Allow"]


# -- the OpenAPI document -------------------------------------------------------------------


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


async def test_openapi_lists_every_route_without_a_token(client):
    resp = await client.get(API + "/openapi.json")
    assert resp.status == 200
    doc = json.loads(await resp.text())
    assert doc["openapi"].startswith("3.1")
    for route in ROUTES:
        op = doc["paths"][API + route.path][route.method.lower()]
        codes = set(op["responses"])
        assert {str(s) for s in route.statuses} <= codes
        if not route.public:
            assert {"401", "404"} <= codes
        if route.body is not None:
            assert "422" in codes
            schema_ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert schema_ref.endswith("/" + route.body.__name__)
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert set(schemas["CandidateIn"]["properties"]) >= {"name", "phone", "expectations"}
    assert (len(doc["paths"]), sum(len(v) for v in doc["paths"].values())) == (
        len({r.path for r in ROUTES}),
        len(ROUTES),
    )


async def test_outbox_rows_reach_the_candidate_history(client, rt):
    """Messages in the candidate view come from the outbox, with their text."""
    _, cand = await post(client, "/candidates", {"name": "王芳"}, status=201)
    candidate = await Candidate.get(id=cand["id"])
    from bot.channels.base import Outgoing

    await rt.fx().to_candidate(
        candidate, Outgoing(text="第一条"), "hist-1", platform="web", address="web-wf"
    )
    [row] = await Outbox.filter(candidate_id=cand["id"])
    data = await get(client, f"/candidates/{cand['id']}")
    assert [(m["id"], m["text"], m["status"]) for m in data["messages"]] == [
        (row.id, "第一条", "pending")
    ]
