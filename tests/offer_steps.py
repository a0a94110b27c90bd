"""Steps the offer-flow tests share: hire through the ATS API, talk as the candidate on the
`web` platform, read what the candidate and the HR group were sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import HR_GROUP, Inbound
from bot.runtime import Runtime
from bot.services.ingest import store_inbound
from bot.storage.models import Candidate
from tests.helpers import auth, drain, sent_messages

CANDIDATE = "cand1"  # the candidate's web address in these tests
PHONE = "13800138000"
MASKED = "138****8000"


@asynccontextmanager
async def api(rt: Runtime) -> AsyncIterator[TestClient]:
    """The HTTP app on a runtime built with the test's own settings."""
    async with TestClient(TestServer(build_app(rt))) as client:
        yield client


async def post(client: TestClient, path: str, body: dict[str, Any] | None = None) -> dict:
    resp = await client.post(f"/api/v1/{path}", json=body or {}, headers=auth())
    assert resp.status in (200, 201), f"{path}: {resp.status} {await resp.text()}"
    return await resp.json()


def in_days(days: int = 30) -> str:
    """An ISO date `days` from today (offers start in the future)."""
    return (date.today() + timedelta(days=days)).isoformat()


async def make_offer(
    client: TestClient,
    *,
    requisition: dict[str, Any],
    candidate: dict[str, Any],
    web_id: str | None = None,
    **offer: Any,
) -> dict:
    """THE offer builder of the test suite: requisition (upserted by external id),
    candidate, application and offer through the ATS API, as the company's ATS does.
    Returns the answer to POST /offers. `web_id` binds the
    candidate in the playground's chat (the ATS API has no web id); `offer` overrides
    the offer fields (default: 25000 a month, starting in 30 days)."""
    await post(client, "requisitions", requisition)
    person = await post(client, "candidates", candidate)
    if web_id:
        await Candidate.filter(id=person["id"]).update(web_id=web_id)
    application = await post(
        client,
        "applications",
        {"candidate_id": person["id"], "requisition_external_id": requisition["external_id"]},
    )
    body = {
        "application_id": application["id"],
        "salary_monthly": "25000",
        "start_date": in_days(30),
        **offer,
    }
    return await post(client, "offers", body)


async def hire(
    client: TestClient,
    *,
    web_id: str | None = CANDIDATE,
    name: str = "张三",
    phone: str | None = PHONE,
    email: str | None = None,
    expectations: dict[str, Any] | None = None,
    requisition: dict[str, Any] | None = None,
    **offer: Any,
) -> dict:
    """The offer-flow tests' usual offer (`make_offer` with a backend requisition in
    Shanghai, one remote day a week, and a candidate reachable in the playground)."""
    person: dict[str, Any] = {"external_id": f"ext-{name}", "name": name}
    if phone:
        person["phone"] = phone
    if email:
        person["email"] = email
    if expectations:
        person["expectations"] = expectations
    return await make_offer(
        client,
        requisition={
            "external_id": "req-backend",
            "title": "后端工程师",
            "location": "上海",
            "remote_days_per_week": 1,
            **(requisition or {}),
        },
        candidate=person,
        web_id=web_id,
        **offer,
    )


def said(text: str, user: str = CANDIDATE) -> Inbound:
    return Inbound(platform="web", event_id=uuid.uuid4().hex, sender_id=user, text=text)


def clicked(action: str, user: str = CANDIDATE, **value: Any) -> Inbound:
    return Inbound(
        platform="web",
        event_id=uuid.uuid4().hex,
        sender_id=user,
        kind="action",
        action={"action": action, **value},
    )


async def send(rt: Runtime, inbound: Inbound) -> None:
    """The candidate's message through the durable path, then the worker until idle."""
    await store_inbound(rt, inbound)
    await drain(rt)


async def candidate_texts(user: str = CANDIDATE) -> list[str]:
    return [m["text"] for m in await sent_messages("web", user)]


async def hr_texts() -> list[str]:
    return [m["text"] for m in await sent_messages("web", HR_GROUP)]
