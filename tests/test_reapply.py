"""Re-applicant alerts (SPEC §2.3): a new application through the ATS API from someone
whose earlier offer was lost brings HR the history, the requisition's state and three
questions; the application is marked as a re-application."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.storage.models import Alert, Application, Candidate, Note
from tests.helpers import auth, drain, sent_messages
from tests.hr_data import application as make_application
from tests.hr_data import ask, candidate, interview, offer, requisition

API = "/api/v1"


async def apply(client, rt, **body) -> Application:
    """POST /api/v1/applications as the ATS does, then let the worker deliver."""
    resp = await client.post(f"{API}/applications", json=body, headers=auth())
    assert resp.status == 201, await resp.text()
    application = await Application.get(id=(await resp.json())["id"])
    await drain(rt)
    return application


async def hr_group_texts() -> list[str]:
    return [m["text"] for m in await sent_messages("web", "hr_group")]


async def earlier_loss(rt, status="declined", *, reason="salary", text=None, **identity):
    """王小明 applied 130 days ago, had two interviews and lost the offer 120 days ago."""
    now = rt.clock()
    identity = identity or {"phone": "13800138000", "email": "xm@example.com"}
    phone = identity.pop("phone", None)
    person = await candidate("王小明", phone, external_id="ATS-A", **identity)
    old_req = await requisition("后端工程师", external_id="REQ-OLD")
    app = await make_application(person, old_req, now - timedelta(days=130), source="拉勾")
    await interview(
        app,
        1,
        now - timedelta(days=128),
        score=4,
        notes="算法扎实",
        interviewer="李工",
        feedback_after=timedelta(hours=5),
    )
    await interview(app, 2, now - timedelta(days=126), score=2, notes="对团队文化有疑虑")
    lost = await offer(
        app,
        status,
        sent_at=now - timedelta(days=122),
        closed_at=now - timedelta(days=120),
        reason=reason,
        reason_text=text,
    )
    return person, app, lost


async def busy_requisition(rt):
    """REQ-NEW: 3 heads, one accepted, one offer out, one more candidate at round 2."""
    now = rt.clock()
    req = await requisition("高级后端工程师", external_id="REQ-NEW", headcount=3, urgency="high")
    for name, rounds, offer_status in (
        ("甲", 2, "accepted"),
        ("乙", 2, None),
        ("丙", 2, "sent"),
        ("丁", 1, None),
    ):
        other = await candidate(name)
        app = await make_application(other, req, now - timedelta(days=20))
        for r in range(1, rounds + 1):
            await interview(app, r, now - timedelta(days=15 - r))
        if offer_status:
            await offer(app, offer_status, sent_at=now - timedelta(days=5))
    return req


async def test_reapplicant_alert_carries_history_state_and_questions(client, rt):
    person, old_app, lost = await earlier_loss(rt, text="另一家给了 35k，差距太大")
    await Note.create(candidate=person, author="web:hr1", text="候选人说明年可能回来 13800138000")
    await busy_requisition(rt)
    # The ATS created a new record for the same person; only the phone (another format) ties them.
    resp = await client.post(
        f"{API}/candidates",
        json={"external_id": "ATS-B", "name": "王小明", "phone": "+86 138-0013-8000"},
        headers=auth(),
    )
    assert resp.status == 201
    new_app = await apply(
        client, rt, candidate_external_id="ATS-B", requisition_external_id="REQ-NEW"
    )

    assert new_app.reapplication_of == old_app.id
    alert = await Alert.get(kind="reapply")
    assert alert.candidate_id == new_app.candidate_id
    assert alert.data["earlier_offer_ids"] == [lost.id]
    assert alert.data["days_since"] == 120
    assert alert.data["requisition_state"] == {
        "headcount": 3,
        "filled": 1,
        "open_headcount": 2,
        "final_round": 1,
        "final_round_number": 2,
        "offers_out": 1,
        "urgency": "high",
        "status": "open",
    }

    [card] = await sent_messages("web", "hr_group")
    text = card["text"]
    assert card["kind"] == "card"
    assert text.startswith(f"🔁 复投提醒 #{alert.id}")
    assert "王小明" in text and "138****8000" in text
    assert "13800138000" not in text  # the HR group never sees a full phone number
    assert "再次申请「高级后端工程师」" in text
    assert "距上次流失 120 天" in text and "婉拒了 offer" in text
    assert (
        f"📄 后端工程师 · {old_app.applied_at.astimezone(rt.settings.company.tz):%Y-%m-%d}" in text
    )
    assert "第1轮面试" in text and "4分" in text and "李工" in text and "算法扎实" in text
    assert "第2轮面试" in text and "2分" in text and "对团队文化有疑虑" in text
    assert f"Offer #{lost.id}" in text and "已婉拒" in text
    assert "原因：薪资「另一家给了 35k，差距太大」" in text
    assert "候选人说明年可能回来" in text
    assert (
        "招 3 人，已接受 1 人，空缺 2 · 终面中 1 人 · 已发 offer 待回复 1 人 · 紧急程度：高" in text
    )

    questions = alert.data["questions"]
    assert len(questions) == 3
    assert "薪资" in questions[0] and "另一家给了 35k" in questions[0]
    assert "第2轮面试" in questions[1] and "对团队文化有疑虑" in questions[1]
    assert "「后端工程师」" in questions[2] and "「高级后端工程师」" in questions[2]
    for n, q in enumerate(questions, 1):
        assert f"{n}. {q}" in text

    assert [a["command"] for a in card["actions"]] == [f"/claim {alert.id}", f"/resolve {alert.id}"]
    claim = card["actions"][0]
    clicked = {"action": claim["key"], **claim["value"]}  # what the channels hand over
    await ask(rt, kind="action", action=clicked, group="hrchat")
    assert (await Alert.get(id=alert.id)).claimed_by == "web:hr1"


@pytest.mark.parametrize(
    "earlier, later, alerted",
    [
        ({"email": "XM@Example.com"}, {"email": "xm@example.com"}, True),
        ({"feishu_open_id": "ou_42"}, {"feishu_open_id": "ou_42"}, True),
        ({"wecom_user_id": "wxm"}, {"wecom_user_id": "wxm"}, True),
        ({"phone": "13800138000"}, {"phone": "0086 138 0013 8000"}, True),
        ({"phone": "13800138000"}, {"phone": "13800138001"}, False),
        ({"email": "xm@example.com"}, {"email": "other@example.com"}, False),
    ],
    ids=["email", "feishu", "wecom", "phone", "other-phone", "same-name-only"],
)
async def test_the_same_person_is_recognised_by_any_identity(client, rt, earlier, later, alerted):
    await earlier_loss(rt, **earlier)
    await requisition("测试工程师", external_id="REQ-NEW")
    later = dict(later)
    phone = later.pop("phone", None)
    newcomer = await candidate("王小明", phone, **later)
    app = await apply(client, rt, candidate_id=newcomer.id, requisition_external_id="REQ-NEW")
    assert (app.reapplication_of is not None) is alerted
    assert await Alert.filter(kind="reapply").exists() is alerted
    assert len(await hr_group_texts()) == int(alerted)


async def test_the_same_candidate_row_applying_again(client, rt):
    person, old_app, _ = await earlier_loss(rt, "reneged", reason="competing_offer")
    await requisition("后端工程师", external_id="REQ-NEW")
    app = await apply(client, rt, candidate_external_id="ATS-A", requisition_external_id="REQ-NEW")
    assert app.reapplication_of == old_app.id
    [text] = await hr_group_texts()
    assert "接受 offer 后又决定不来" in text
    alert = await Alert.get(kind="reapply")
    assert "其他机会" in alert.data["questions"][0]
    # Same role again: the third question asks what changed since.
    assert "120 天" in alert.data["questions"][2]


async def test_an_expired_offer_without_a_reason(client, rt):
    await earlier_loss(rt, "expired", reason=None)
    await requisition("后端工程师", external_id="REQ-NEW")
    await apply(client, rt, candidate_external_id="ATS-A", requisition_external_id="REQ-NEW")
    alert = await Alert.get(kind="reapply")
    assert "没有说明原因" in alert.data["questions"][0]
    assert "未回复而过期" in (await hr_group_texts())[0]


async def test_an_earlier_offer_that_was_accepted_is_no_reapplication(client, rt):
    await earlier_loss(rt, "onboarded", reason=None)
    await requisition("后端工程师", external_id="REQ-NEW")
    app = await apply(client, rt, candidate_external_id="ATS-A", requisition_external_id="REQ-NEW")
    assert app.reapplication_of is None
    assert not await Alert.exists()
    assert await hr_group_texts() == []


async def test_history_imported_later_is_marked_but_not_alerted(client, rt):
    _, old_app, _ = await earlier_loss(rt)
    await requisition("后端工程师", external_id="REQ-NEW")
    long_ago = (rt.clock() - timedelta(days=60)).isoformat()
    app = await apply(
        client,
        rt,
        candidate_external_id="ATS-A",
        requisition_external_id="REQ-NEW",
        applied_at=long_ago,
    )
    assert app.reapplication_of == old_app.id
    assert not await Alert.exists()
    assert await hr_group_texts() == []


async def test_an_erased_person_is_not_recognised(client, rt):
    person, _, _ = await earlier_loss(rt)
    await ask(rt, f"/forget #{person.id}")
    await ask(rt, f"/forget #{person.id} confirm")
    assert (await Candidate.get(id=person.id)).erased_at is not None
    await requisition("后端工程师", external_id="REQ-NEW")
    newcomer = await candidate("王小明", "13800138000", email="xm@example.com")
    app = await apply(client, rt, candidate_id=newcomer.id, requisition_external_id="REQ-NEW")
    assert app.reapplication_of is None
    assert await hr_group_texts() == []


async def test_a_reapplicants_words_belong_to_the_new_application(client, rt):
    """The old offer was declined and HR closed that alert; the person applies again and
    asks about the new job: HR hears it (naming the new job), the answer is about it."""
    from bot.storage.models import Offer
    from tests.offer_steps import candidate_texts, clicked, hire, said, send

    old = await hire(client)
    await drain(rt)
    await send(rt, clicked("decline", offer_id=old["id"]))
    await send(rt, said("1"))
    assert (await Offer.get(id=old["id"])).stage == "closed"
    await Alert.filter(offer_id=old["id"]).update(status="resolved")
    req = {"external_id": "req-fe", "title": "前端工程师"}
    assert (await client.post(f"{API}/requisitions", json=req, headers=auth())).status == 201
    person = (await Offer.get(id=old["id"])).candidate_id
    await apply(client, rt, candidate_id=person, requisition_external_id="req-fe")
    alerts_before = await Alert.filter(kind="question").count()

    await send(rt, said("前端这个岗位需要经常出差吗？"))
    answer = (await candidate_texts())[-1]
    assert "婉拒" not in answer and "前端工程师" in answer
    [alert] = await Alert.filter(kind="question").order_by("-id").limit(1)
    assert await Alert.filter(kind="question").count() == alerts_before + 1
    assert alert.offer_id is None and alert.data["job"] == "前端工程师"
    hr = (await hr_group_texts())[-1]
    assert "前端这个岗位需要经常出差吗" in hr and "前端工程师" in hr
    assert (await Offer.get(id=old["id"])).status == "declined"  # the old offer is untouched

    await send(rt, said("远程可以吗？"))  # another question: the same alert, updated
    assert await Alert.filter(kind__in=["question", "hesitate"]).count() == alerts_before + 1
    assert (await Alert.get(id=alert.id)).updates == 1
    assert "远程可以吗" in (await hr_group_texts())[-1]

    await send(rt, said("好的"))  # nothing to alert about: noted, on the timeline
    assert (await Alert.get(id=alert.id)).updates == 1
    assert "前端工程师" in (await candidate_texts())[-1]
