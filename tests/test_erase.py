"""PIPL erasure (DELETE /api/v1/candidates/{id}, /forget): personal data and documents go,
the anonymous facts behind the statistics stay, other people's data is untouched."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.channels.base import Inbound, Outgoing
from bot.services.erase import erase_candidate
from bot.services.ingest import store_inbound
from bot.storage.models import (
    Alert,
    Application,
    Candidate,
    Conversation,
    Document,
    InboundEvent,
    Interview,
    Note,
    Offer,
    Outbox,
    Reason,
    TimelineEvent,
    Timer,
)
from tests import hr_data
from tests.helpers import auth, drain, sent_messages

PHONE = "13800138000"
SECRET_WORDS = "我家里人不同意，电话13800138000"


async def person(rt, tag: str) -> dict:
    """A candidate with something in every table that can hold their personal data."""
    fx = rt.fx()
    req = await hr_data.requisition("销售经理", external_id=f"REQ-{tag}")
    cand = await hr_data.candidate(
        f"张伟{tag}",
        f"+86 {PHONE}",
        external_id=f"CAND-{tag}",
        email=f"zw{tag}@example.com",
        wecom_user_id=f"zw-{tag}",
        web_id=f"web-{tag}",
        expectations={"salary_min": 30000, "notes": "想要远程"},
    )
    app = await hr_data.application(cand, req, hr_data.utc(2024, 3, 1))
    interview = await hr_data.interview(
        app, 1, hr_data.utc(2024, 3, 5), score=4, notes="提到家庭原因"
    )
    offer = await hr_data.offer(
        app,
        "declined",
        sent_at=hr_data.utc(2024, 3, 2),
        closed_at=hr_data.utc(2024, 3, 9),
        reason="family",
        reason_text=SECRET_WORDS,
        salary=30000,
        invite_code=f"4242{tag}",
        data={"advisory": ["期望薪资 30000"]},
    )
    await Reason.create(offer=offer, kind="decline", category="family", text=SECRET_WORDS)
    await Note.create(candidate=cand, author="wecom:hr_zhang", text="她说家里人不同意")
    await Alert.create(
        kind="decline",
        candidate_id=cand.id,
        offer_id=offer.id,
        data={"reply": SECRET_WORDS, "name": cand.name},
        resolution_note="已电话沟通",
    )
    await fx.record(
        cand.id, "reply", {"text": SECRET_WORDS}, offer_id=offer.id, actor=f"web:web-{tag}"
    )
    # A message to them (with candidate id), one to their address only, one to HR about them.
    await fx.to_candidate(
        cand,
        Outgoing(text=f"{cand.name} 您好"),
        f"hello-{tag}",
        platform="web",
        address=f"web-{tag}",
    )
    await fx.to_user("web", f"web-{tag}", Outgoing(text="请输入邀请码"), f"bind-{tag}")
    await fx.to_hr(Outgoing(text=f"{cand.name} 拒绝了 offer"), f"hr-{tag}", candidate_id=cand.id)
    await Conversation.create(
        platform="web", user_id=f"web-{tag}", candidate=cand, context={"last": SECRET_WORDS}
    )
    await fx.schedule(
        f"offer:{offer.id}:remind",
        "offer_remind",
        rt.clock() + timedelta(hours=1),
        offer_id=offer.id,
        candidate_id=cand.id,
        data={"name": cand.name},
    )
    photo = b"\xff\xd8\xff" + tag.encode() * 100
    key, digest = rt.documents.put(cand.id, photo, "jpg")
    await Document.create(
        candidate=cand,
        offer_id=offer.id,
        item="photo",
        sha256=digest,
        storage_key=key,
        size=len(photo),
        mime="image/jpeg",
    )
    # What they wrote to the bot, still waiting for the worker.
    await store_inbound(
        rt, Inbound(platform="web", event_id=f"in-{tag}", sender_id=f"web-{tag}", text=SECRET_WORDS)
    )
    return {"candidate": cand, "offer": offer, "interview": interview, "app": app, "key": key}


def contains_pii(value, tag: str) -> bool:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return any(s in text for s in (f"张伟{tag}", PHONE, SECRET_WORDS, f"web-{tag}", "家"))


async def test_delete_erases_personal_data_and_keeps_aggregates(client, rt):
    gone, kept = await person(rt, "A"), await person(rt, "B")
    cand, offer = gone["candidate"], gone["offer"]
    resp = await client.delete(f"/api/v1/candidates/{cand.id}", headers=auth())
    assert resp.status == 204

    row = await Candidate.get(id=cand.id)
    assert row.name == f"已删除#{cand.id}" and row.erased_at is not None
    assert [
        row.external_id,
        row.phone,
        row.phone_norm,
        row.email,
        row.wecom_user_id,
        row.web_id,
        row.expectations,
    ] == [None] * 7
    # Documents: the rows and the files.
    assert await Document.filter(candidate_id=cand.id).count() == 0
    assert not rt.documents.path(gone["key"]).exists()
    # Words: messages, inbound payloads, reasons, notes, alert details, timeline data.
    theirs = await Outbox.filter(idempotency_key__contains="-A")
    assert len(theirs) == 3  # to them, to their address, to HR about them
    assert all(o.payload["text"] == "" and o.status == "cancelled" for o in theirs)
    event = await InboundEvent.get(event_id="in-A")
    assert not contains_pii(event.payload, "A") and event.status == "done"
    assert (await Reason.get(offer_id=offer.id)).text is None
    assert (await Note.get(candidate_id=cand.id)).text == ""
    alert = await Alert.get(candidate_id=cand.id)
    assert alert.data == {} and alert.resolution_note is None
    timeline = await TimelineEvent.filter(candidate_id=cand.id)
    assert not contains_pii([(t.data, t.actor) for t in timeline], "A")
    assert "candidate_erased" in [t.kind for t in timeline]
    assert await Conversation.filter(user_id="web-A").count() == 0
    assert (await Interview.get(id=gone["interview"].id)).notes is None
    assert (await Timer.get(offer_id=offer.id)).status == "cancelled"

    # What statistics count survives.
    o = await Offer.get(id=offer.id)
    assert (o.status, o.reason_category, o.declined_at, o.salary_monthly) == (
        "declined",
        "family",
        offer.declined_at,
        30000,
    )
    assert (o.reason_text, o.invite_code, o.data) == (None, None, {})
    assert (await Reason.get(offer_id=offer.id)).category == "family"
    assert (await Interview.get(id=gone["interview"].id)).score == 4
    assert await Application.filter(candidate_id=cand.id).count() == 1

    # The other person is untouched.
    other = await Candidate.get(id=kept["candidate"].id)
    assert other.name == "张伟B" and other.phone_norm == PHONE and other.erased_at is None
    assert rt.documents.path(kept["key"]).exists()
    assert (await Reason.get(offer_id=kept["offer"].id)).text == SECRET_WORDS
    assert (await InboundEvent.get(event_id="in-B")).payload["text"] == SECRET_WORDS
    assert await Conversation.filter(user_id="web-B").count() == 1


async def test_nothing_is_sent_to_or_about_an_erased_candidate(client, rt):
    gone = await person(rt, "A")
    resp = await client.delete(f"/api/v1/candidates/{gone['candidate'].id}", headers=auth())
    assert resp.status == 204
    await drain(rt)
    assert await sent_messages("web", "web-A") == []
    assert all("张伟A" not in m["text"] for m in await sent_messages("web"))
    assert await Outbox.filter(candidate_id=gone["candidate"].id, status="sent").count() == 0


async def test_erase_returns_counts_and_can_run_twice(rt):
    gone = await person(rt, "A")
    counts = await erase_candidate(rt.fx(actor="wecom:hr_zhang"), gone["candidate"])
    assert counts["candidate_id"] == gone["candidate"].id
    assert counts["documents"] == 1 and counts["files"] == 1
    assert counts["messages"] == 3 and counts["inbound_events"] == 1
    assert counts["conversations"] == 1 and counts["notes"] == 1
    again = await erase_candidate(rt.fx(), await Candidate.get(id=gone["candidate"].id))
    assert again["files"] == 0 and again["documents"] == 0
    assert (await Candidate.get(id=gone["candidate"].id)).name == f"已删除#{gone['candidate'].id}"


async def test_the_same_external_id_after_erasure_is_a_new_person(client, rt):
    resp = await client.post(
        "/api/v1/candidates", json={"external_id": "C-9", "name": "赵六"}, headers=auth()
    )
    first = await resp.json()
    assert (await client.delete(f"/api/v1/candidates/{first['id']}", headers=auth())).status == 204
    resp = await client.post(
        "/api/v1/candidates", json={"external_id": "C-9", "name": "赵六"}, headers=auth()
    )
    assert resp.status == 201
    assert (await resp.json())["id"] != first["id"]


async def test_no_new_application_or_offer_for_an_erased_candidate(client, rt):
    gone = await person(rt, "A")
    cid = gone["candidate"].id
    assert (await client.delete(f"/api/v1/candidates/{cid}", headers=auth())).status == 204
    resp = await client.post(
        "/api/v1/applications",
        json={"candidate_id": cid, "requisition_external_id": "REQ-A"},
        headers=auth(),
    )
    assert resp.status == 404
    resp = await client.post(
        "/api/v1/offers",
        json={"application_id": gone["app"].id, "salary_monthly": 1, "start_date": "2031-01-01"},
        headers=auth(),
    )
    assert resp.status == 409


async def test_statistics_are_the_same_after_erasure(client, rt):
    gone = await person(rt, "A")
    await person(rt, "B")
    # Sent within the window, so the offers count.
    await Offer.all().update(created_at=rt.clock() - timedelta(days=2))
    before = await client.get("/api/v1/stats?days=30", headers=auth())
    assert (await before.json())["offers_sent"] == 2
    resp = await client.delete(f"/api/v1/candidates/{gone['candidate'].id}", headers=auth())
    assert resp.status == 204
    after = await client.get("/api/v1/stats?days=30", headers=auth())
    assert await after.json() == await before.json()
