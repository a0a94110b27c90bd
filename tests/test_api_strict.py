"""The API's types are strict and its dates sane (docs/hardening.md): `"7"` is not an
integer, `false` is not 0, dates outside 1970..2100 are a 422 naming the field; a date
already stored outside that window never turns GET into a 500; the OpenAPI document
states the one-of rules, patterns and decimal limits the API enforces."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.storage.models import Application, Interview, Offer
from tests.test_api import API, get, make_application, make_offer, post

REQ = {"external_id": "REQ-S", "title": "工程师"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("headcount", "7"), ("headcount", 7.0), ("headcount", True),
     ("remote_days_per_week", False), ("remote_days_per_week", "2"),
     ("urgency", 1), ("title", 5), ("documents", "photo")],
)  # fmt: skip
async def test_lax_json_types_are_422_naming_the_field(client, field, value):
    status, data = await post(client, "/requisitions", {**REQ, field: value})
    assert status == 422, data
    assert [e["field"] for e in data["errors"]] == [field]


async def test_nested_and_id_fields_are_strict_too(client):
    cand = {"name": "张伟", "expectations": {"remote_days_per_week": True}}
    status, data = await post(client, "/candidates", cand)
    assert status == 422 and data["errors"][0]["field"] == "expectations.remote_days_per_week"
    status, data = await post(client, "/applications",
                              {"candidate_id": "1", "requisition_external_id": "R"})  # fmt: skip
    assert status == 422 and data["errors"][0]["field"] == "candidate_id"


async def test_strings_for_dates_and_decimals_still_work(client):
    app = await make_application(client)
    body = {"application_id": app["id"], "salary_monthly": "32000.50",
            "start_date": "2030-05-06", "expires_at": "2030-05-01T12:00:00"}  # fmt: skip
    await post(client, "/offers", body, status=201)


BAD_DAYS = ["1899-12-30", "0001-01-01", "9999-12-31", "1969-12-31", "2101-01-01"]


@pytest.mark.parametrize("day", BAD_DAYS)
async def test_dates_outside_1970_to_2100_are_422_at_the_door(client, day):
    app = await make_application(client)
    body = {"application_id": app["id"], "salary_monthly": 100, "start_date": day}
    status, data = await post(client, "/offers", body)
    assert status == 422, data
    assert data["errors"][0]["field"] == "start_date"
    body = {"application_id": app["id"], "salary_monthly": 100, "start_date": "2030-01-01",
            "expires_at": f"{day}T10:00:00+08:00"}  # fmt: skip
    status, data = await post(client, "/offers", body)
    assert status == 422 and data["errors"][0]["field"] == "expires_at", data
    interview = {"application_id": app["id"], "round": 1, "held_at": f"{day}T00:00:00"}
    status, data = await post(client, "/interviews", interview)
    assert status == 422 and data["errors"][0]["field"] == "held_at", data
    status, data = await post(client, "/applications", {
        "candidate_external_id": "CAND-1", "requisition_external_id": "REQ-1",
        "applied_at": f"{day}T23:59:59Z"})  # fmt: skip
    assert status == 422 and data["errors"][0]["field"] == "applied_at", data


@pytest.mark.parametrize("year", [1, 1899, 9999])
async def test_absurd_dates_already_stored_never_make_get_500(client, year):
    offer = await make_offer(client)
    odd = datetime(year, 1, 1, 0, 0, 1, tzinfo=UTC) if year < 9999 else datetime(
        9999, 12, 31, 23, 59, tzinfo=UTC)  # fmt: skip
    await Offer.filter(id=offer["id"]).update(start_date=date(year, 1, 1), expires_at=odd)
    await Application.filter(id=offer["application_id"]).update(applied_at=odd)
    await Interview.create(application_id=offer["application_id"], round=1, held_at=odd)
    detail = await get(client, f"/offers/{offer['id']}")
    assert detail["start_date"] == date(year, 1, 1).isoformat()
    assert detail["expires_at"].startswith(f"{year:04d}")
    person = await get(client, f"/candidates/{offer['candidate_id']}")
    assert person["applications"][0]["applied_at"][:4] in (f"{year:04d}", f"{year - 1:04d}")


async def test_the_openapi_document_states_what_is_enforced(client):
    doc = await get(client, "/openapi.json")
    schemas = doc["components"]["schemas"]
    offer = schemas["OfferIn"]

    # One of application_id / application_external_id.
    def one_of(name: str) -> list[list[str]]:
        return [branch["required"] for branch in schemas[name]["oneOf"]]

    assert one_of("OfferIn") == [["application_id"], ["application_external_id"]]
    assert one_of("InterviewIn") == [["application_id"], ["application_external_id"]]
    assert one_of("ApplicationIn") == [["candidate_id"], ["candidate_external_id"]]
    # Decimal limits and the date window.
    number, text = offer["properties"]["salary_monthly"]["anyOf"]
    assert number["exclusiveMinimum"] == 0 and number["maximum"] == 9_999_999_999.99
    assert number["multipleOf"] == 0.01 and "pattern" in text
    start = offer["properties"]["start_date"]
    assert start["format"] == "date" and start["formatMinimum"] == "1970-01-01"
    # Patterns the validators check.
    candidate = schemas["CandidateIn"]["properties"]
    assert "pattern" in str(candidate["phone"]) and "pattern" in str(candidate["email"])
    assert "pattern" in str(offer["properties"]["currency"])
    assert "pattern" in str(offer["properties"]["contract_url"])
    assert API  # the document is the one served under /api/v1


@pytest.mark.parametrize("field", ["external_id", "wecom_user_id", "feishu_open_id"])
async def test_ids_longer_than_their_columns_are_422(client, field):
    body = {"external_id": "c-long", "name": "张伟", field: "x" * 129}
    status, data = await post(client, "/candidates", body)
    assert status == 422 and data["errors"][0]["field"] == field, data
    status, data = await post(client, "/requisitions", {**REQ, "external_id": "r" * 129})
    assert status == 422 and data["errors"][0]["field"] == "external_id", data
