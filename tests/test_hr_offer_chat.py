"""HR without an ATS (docs/hr-commands.md): /job, /offer, /offers, /withdraw typed in the
HR chat of the playground (web) and answered by the worker through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.services.ingest import store_inbound
from bot.storage.models import Application, Candidate, KeyValue, Offer, Requisition
from tests.helpers import drain, sent_messages
from tests.hr_data import ask, hr_message, requisition
from tests.offer_steps import candidate_texts, said, send


def t(rt, key: str, **values) -> str:
    return rt.catalog.t(key, **values)


async def test_one_line_offer_summary_confirm_and_the_candidate_gets_it(rt):
    await requisition("前端工程师", location="上海", remote_days_per_week=2)
    summary = await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    assert summary["kind"] == "card"
    assert "25,000" in summary["text"] and "2027-01-04" in summary["text"]
    assert "138****8000" in summary["text"] and "13800138000" not in summary["text"]
    assert [a["key"] for a in summary["actions"]] == ["offer_confirm", "offer_edit", "offer_cancel"]
    assert not await Offer.exists()  # nothing is sent before 确认

    done = await ask(rt, "确认")
    offer = await Offer.get()
    assert done["text"].startswith(f"✅ Offer #{offer.id}")
    assert offer.status == "sent" and str(offer.salary_monthly) in ("25000", "25000.00")
    assert offer.start_date.isoformat() == "2027-01-04"
    who = await Candidate.get()
    assert (who.name, who.phone_norm) == ("张三", "13800138000")
    # No platform identity: the candidate is invited, and the invite brings the offer.
    assert offer.invite_code and offer.invite_code in done["text"]
    assert not await KeyValue.filter(key__startswith="offer_draft:").exists()
    await send(rt, said(offer.invite_code, user="cand-zs"))
    texts = await candidate_texts("cand-zs")
    assert any("25,000" in text for text in texts), texts


# -- the guided conversation -----------------------------------------------------------------


async def test_guided_offer_asks_each_missing_field_in_turn_and_re_asks_politely(rt):
    await requisition("前端工程师", location="上海")
    steps = [
        ("/offer", "commands.offer.ask_name"),
        ("张三", "commands.offer.ask_contact"),
        ("not a phone", "commands.offer.bad_contact"),
        ("zs@example.com", "commands.offer.ask_job"),
        ("前端工程师", "commands.offer.ask_salary"),
        ("二十五", "commands.offer.bad_salary"),
        ("25,000", "commands.offer.ask_start_date"),
        ("2019-01-01", "commands.offer.bad_start_date"),
        ("1月4日", "commands.offer.ask_deadline"),
        ("whenever", "commands.offer.bad_deadline"),
        ("3天", "commands.offer.ask_expect"),
        ("无", None),
    ]
    for text, key in steps:
        answer = await ask(rt, text)
        if key is None:
            assert answer["kind"] == "card", answer
            continue
        expected = t(rt, key, name="张三", days=t(rt, "commands.offer.days", n=7))
        assert expected.splitlines()[0] in answer["text"], (text, answer["text"])
        if key.startswith("commands.offer.bad_"):  # the question comes again after the hint
            assert "？" in answer["text"].splitlines()[-1]
    assert "zs@example.com" in answer["text"]
    assert "25,000" in answer["text"]
    await ask(rt, "确认")
    offer = await Offer.get()
    assert offer.start_date.month == 1 and offer.start_date.day == 4
    local = offer.expires_at.astimezone(rt.settings.company.tz)
    today = rt.clock().astimezone(rt.settings.company.tz).date()
    assert local.date() == today + timedelta(days=3)


async def test_a_known_candidate_and_job_are_reused_and_expectations_warn_before_confirm(rt):
    job = await requisition("后端工程师", location="上海", remote_days_per_week=1)
    first = await ask(rt, f"/offer 李四 13900139000 #{job.id} 20k 下周一 期望=30k 远程3天")
    assert t(rt, "commands.offer.advisory_title") in first["text"]
    assert "30,000" in first["text"]
    assert f"#{job.id}" in first["text"]
    await ask(rt, "确认")
    assert await Requisition.all().count() == 1
    who = await Candidate.get()
    assert who.expectations == {"salary_min": 30000, "remote_days_per_week": 3}
    again = await ask(rt, "/offer 李四 13900139000 后端工程师 21k 下周二")
    assert t(rt, "commands.offer.advisory_title") in again["text"]  # stored expectations
    answer = await ask(rt, "确认")
    assert answer["text"] == t(rt, "commands.offer.conflict", name="李四")
    assert await Offer.all().count() == 1 and await Candidate.all().count() == 1
    assert await Application.all().count() == 1  # the refused offer left no rows behind


async def test_an_unknown_job_is_created_on_confirm_and_a_namesake_list_is_asked(rt):
    answer = await ask(rt, "/offer 王五 13700137000 数据分析师 18k 明天")
    assert t(rt, "commands.offer.job_new", title="数据分析师") in answer["text"]
    assert not await Requisition.exists()
    await ask(rt, "确认")
    job = await Requisition.get()
    assert job.title == "数据分析师" and job.external_id.startswith("chat-")

    await requisition("数据工程师")
    pick = await ask(rt, "/offer 赵六 13600136000 数据 18k 明天")
    assert t(rt, "commands.offer.pick_job", count=2, job="数据") in pick["text"]
    summary = await ask(rt, f"#{job.id}")
    assert f"#{job.id}" in summary["text"] and summary["kind"] == "card"


async def test_cancel_by_word_by_command_and_by_button(rt):
    for how in ("取消", "/cancel", None):
        await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
        draft = await KeyValue.get(key="offer_draft:web:hr1")
        if how is None:
            action = {"action": "offer_cancel", "draft": draft.value["no"]}
            answer = await ask(rt, kind="action", action=action)
        else:
            answer = await ask(rt, how)
        assert answer["text"] == t(rt, "commands.offer.cancelled")
        assert not await KeyValue.filter(key="offer_draft:web:hr1").exists()
    assert (await ask(rt, "确认"))["text"] == t(rt, "common.unknown_reply")
    assert not await Offer.exists()


async def test_edit_changes_a_field_and_an_old_card_cannot_confirm(rt):
    await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    old = (await KeyValue.get(key="offer_draft:web:hr1")).value["no"]
    assert (await ask(rt, "修改"))["text"] == t(rt, "commands.offer.edit_hint")
    changed = await ask(rt, "月薪=26k 入职=2027-01-11")
    assert "26,000" in changed["text"] and "2027-01-11" in changed["text"]
    stale = await ask(rt, kind="action", action={"action": "offer_confirm", "draft": old})
    assert stale["text"].startswith(t(rt, "commands.offer.stale_card"))
    assert not await Offer.exists()
    new = (await KeyValue.get(key="offer_draft:web:hr1")).value["no"]
    await ask(rt, kind="action", action={"action": "offer_confirm", "draft": new})
    offer = await Offer.get()
    assert (offer.salary_monthly, offer.start_date.isoformat()) == (26000, "2027-01-11")


@pytest.mark.parametrize(
    "text", ["/offer 张三 13800138000 前端工程师 25k 2027-01-04", "/job 前端工程师", "/offers"]
)
async def test_non_admins_are_refused_and_nothing_is_drafted(rt, text):
    answer = await ask(rt, text, sender="cand-x")
    assert answer["text"] == t(rt, "commands.not_admin")
    assert not await KeyValue.exists() and not await Requisition.exists()


async def test_a_non_admin_cannot_click_an_offer_draft_button(rt):
    await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    no = (await KeyValue.get(key="offer_draft:web:hr1")).value["no"]
    action = {"action": "offer_confirm", "draft": no}
    answer = await ask(rt, kind="action", action=action, sender="cand-x")
    assert answer["text"] == t(rt, "commands.not_admin")
    assert not await Offer.exists()


async def test_two_hr_people_draft_at_once_without_interfering(rt, settings_factory, make_runtime):
    rt2 = await make_runtime(settings_factory(hr={"admins": ["web:hr1", "web:hr2"]}))
    await ask(rt2, "/offer 张三 13800138000")
    await ask(rt2, "/offer", sender="hr2")
    assert (await ask(rt2, "李四", sender="hr2"))["text"] == t(
        rt2, "commands.offer.ask_contact", name="李四"
    )
    job = await ask(rt2, "前端工程师")  # hr1's answer to hr1's question
    assert job["text"] == t(rt2, "commands.offer.ask_salary")
    drafts = {k.key: k.value for k in await KeyValue.filter(key__startswith="offer_draft:")}
    assert drafts["offer_draft:web:hr1"]["name"] == "张三"
    assert drafts["offer_draft:web:hr1"]["job"] == "前端工程师"
    assert drafts["offer_draft:web:hr2"]["name"] == "李四"
    assert drafts["offer_draft:web:hr2"]["job"] is None


async def test_a_draft_survives_a_restart_and_expires_after_30_minutes(rt, settings, make_runtime):
    await ask(rt, "/offer 张三 13800138000 前端工程师")
    await rt.close()
    later = await make_runtime(settings)
    assert (await ask(later, "25k"))["text"] == t(later, "commands.offer.ask_start_date")
    row = await KeyValue.get(key="offer_draft:web:hr1")
    row.value = {**row.value, "until": (later.clock() - timedelta(seconds=1)).isoformat()}
    await row.save()
    assert (await ask(later, "2027-01-04"))["text"] == t(later, "commands.offer.expired")
    assert not await KeyValue.filter(key="offer_draft:web:hr1").exists()


async def test_a_draft_continues_only_in_the_chat_it_began_in(rt):
    await ask(rt, "/offer 张三 13800138000 前端工程师")
    await store_inbound(rt, hr_message("25k", group="hr_group"))
    await drain(rt)
    assert not await sent_messages("web", "chat:hr_group")
    assert (await KeyValue.get(key="offer_draft:web:hr1")).value["salary"] is None
    assert (await ask(rt, "25k"))["text"] == t(rt, "commands.offer.ask_start_date")


# -- the playground page's own API ---------------------------------------------------------

SEND = "/playground/api/send"


async def test_the_playground_hr_pane_sends_an_offer_the_candidate_pane_receives(client, rt):
    async def hr(body: dict) -> dict:
        before = len(await sent_messages("web", "chat:hr_group"))
        resp = await client.post(SEND, json={"role": "hr", **body})
        assert resp.status == 202, await resp.text()
        await drain(rt)
        [answer] = (await sent_messages("web", "chat:hr_group"))[before:]
        return answer

    await hr({"text": "/job 测试工程师 1人 杭州"})
    summary = await hr({"text": "/offer 孙七 13500135000 测试工程师 1.8万 明天"})
    assert "18,000" in summary["text"]
    confirm = next(a for a in summary["actions"] if a["key"] == "offer_confirm")
    done = await hr({"action": {"action": "offer_confirm", **confirm["value"]}})
    offer = await Offer.get()
    assert offer.invite_code in done["text"]
    resp = await client.post(
        SEND, json={"role": "candidate", "user": "cand-sun", "invite_code": offer.invite_code}
    )
    assert resp.status == 202
    await drain(rt)
    assert any("18,000" in text for text in await candidate_texts("cand-sun"))
    assert (await Offer.get()).status == "sent"


# -- hostile and malformed input --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "/offer " + "张" * 5000,
        "/offer '; DROP TABLE candidate; -- 13800138000 <script>x</script> 25k 明天",
        "/offer ==== ＝＝ =25k name= job=",
        "/offer 张三 13800138000 前端 99999999999k 2027-01-04",
        "/offer 张三 13800138000 " + "职" * 300 + " 25k 2027-01-04",
        "/offer \u202e\u0000张三 13800138000 前端 25k 2027-01-04",
        "/job " + "x=" * 2000,
        "/job ' OR 1=1 -- 人数=-5",
        "/withdraw %",
        "/withdraw 1 confirm",
    ],
    ids=range(10),
)
async def test_hostile_arguments_get_an_answer_and_send_nothing(rt, text):
    answer = await ask(rt, text)
    assert answer["text"]
    assert not await Offer.exists()
    assert await Candidate.all().count() == 0


async def test_an_over_long_name_in_one_line_is_asked_again(rt):
    answer = await ask(rt, "/offer " + "张" * 500 + " 13800138000")
    assert answer["text"].startswith(t(rt, "commands.offer.bad_name"))
    assert answer["text"].endswith(t(rt, "commands.offer.ask_name"))


async def test_an_over_long_answer_is_re_asked_and_a_mangled_draft_row_is_dropped(rt):
    await ask(rt, "/offer")
    answer = await ask(rt, "名" * 1500)
    assert answer["text"].startswith(t(rt, "commands.offer.bad_name"))
    await KeyValue.filter(key="offer_draft:web:hr1").update(value={"junk": 1})
    assert (await ask(rt, "张三"))["text"] == t(rt, "common.unknown_reply")
    assert (await ask(rt, "/offer confirm"))["text"] == t(rt, "commands.offer.none")


async def test_a_name_with_spaces_and_a_deadline_after_the_start(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(company={"language": "en", "quiet_hours": []}))
    await ask(rt, "/offer")
    asked = await ask(rt, "Zhang San")
    assert asked["text"] == t(rt, "commands.offer.ask_contact", name="Zhang San")
    await ask(rt, "/offer Li 13800138000 Frontend 25k 2027-01-04")
    late = await ask(rt, "deadline=2027-01-10")
    assert late["text"].startswith(t(rt, "commands.offer.deadline_after_start"))
    row = await KeyValue.get(key="offer_draft:web:hr1")
    assert row.value["deadline"] is None


async def test_a_new_job_in_the_draft_can_be_changed_to_a_known_one(rt):
    job = await requisition("前端工程师")
    first = await ask(rt, "/offer 张三 13800138000 前段工程师 25k 2027-01-04")  # a typo
    assert t(rt, "commands.offer.job_new", title="前段工程师") in first["text"]
    fixed = await ask(rt, f"职位=#{job.id}")
    assert f"前端工程师 (#{job.id})" in fixed["text"]
    await ask(rt, "确认")
    assert (await Offer.get()).requisition_id == job.id
    assert await Requisition.all().count() == 1
