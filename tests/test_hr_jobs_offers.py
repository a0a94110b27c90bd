"""/job, /offers, /withdraw in the HR chat, and the chat's offer against the API's: the
same use cases (bot/usecases/ats.py), so the same rows and the same messages."""

from __future__ import annotations

from datetime import date, timedelta

from bot.storage.models import KeyValue, Offer, Requisition, TimelineEvent
from tests.hr_data import ask
from tests.offer_steps import api, candidate_texts, hire, post


def t(rt, key: str, **values) -> str:
    return rt.catalog.t(key, **values)


async def test_job_created_in_one_line_then_edited_by_id(rt):
    made = await ask(rt, "/job 前端工程师 2人 急 远程2天 偶尔加班 上海")
    job = await Requisition.get()
    assert made["text"].startswith(t(rt, "commands.job.created", id=job.id, title="前端工程师"))
    assert (job.headcount, job.urgency, job.remote_days_per_week, job.overtime, job.location) == (
        2,
        "high",
        2,
        "occasional",
        "上海",
    )
    assert job.external_id.startswith("chat-") and job.status == "open"

    edit = f"/job #{job.id} 人数=3 状态=暂停 材料=身份证正面,photo 指引=周一 9:30 到前台找王老师"
    changed = await ask(rt, edit)
    assert changed["text"].startswith(t(rt, "commands.job.updated", id=job.id, title="前端工程师"))
    job = await Requisition.get(id=job.id)
    assert (job.headcount, job.status, job.documents) == (3, "paused", ["id_card_front", "photo"])
    assert job.onboarding_guide == "周一 9:30 到前台找王老师"
    assert (job.urgency, job.location) == ("high", "上海")  # fields not sent stay
    again = await ask(rt, "/job 前端工程师 不急")  # the same title changes that job
    assert await Requisition.all().count() == 1
    assert (await Requisition.get()).urgency == "low"
    assert t(rt, "commands.job.updated", id=job.id, title="前端工程师") in again["text"]


async def test_a_title_with_spaces_goes_as_key_value(rt):
    made = await ask(rt, "/job title=Frontend engineer 人数=2")
    job = await Requisition.get()
    assert (job.title, job.headcount) == ("Frontend engineer", 2)
    assert made["text"].startswith(t(rt, "commands.job.created", id=job.id, title=job.title))
    assert (await ask(rt, "/job 人数=2"))["text"] == t(
        rt, "commands.usage_error", usage=t(rt, "commands.usage.job")
    )


async def test_job_lists_and_refuses_what_it_cannot_read(rt):
    assert (await ask(rt, "/job"))["text"] == t(rt, "commands.job.none")
    await ask(rt, "/job 后端工程师 北京")
    assert "后端工程师" in (await ask(rt, "/job"))["text"]
    bad = await ask(rt, "/job 测试 远程9天 材料=护照")
    assert bad["text"].startswith(t(rt, "commands.job.unread", words="").split("：")[0])
    assert "护照" in bad["text"]
    assert await Requisition.all().count() == 1
    assert (await ask(rt, "/job #999 人数=2"))["text"] == t(rt, "commands.job.not_found", id="#999")
    long = await ask(rt, "/job " + "长" * 300)
    assert long["text"].startswith(t(rt, "commands.job.invalid", errors="").rstrip())
    assert await Requisition.all().count() == 1


async def test_offers_lists_open_offers_oldest_first_with_phones_masked(rt):
    assert (await ask(rt, "/offers"))["text"] == t(rt, "commands.offers.none")
    await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    await ask(rt, "确认")
    await ask(rt, "/offer 李四 13900139000 前端工程师 26k 2027-01-11")
    await ask(rt, "确认")
    listed = (await ask(rt, "/offers"))["text"]
    assert listed.index("张三") < listed.index("李四")
    assert "138****8000" in listed and "13800138000" not in listed
    assert "26,000" in listed


async def test_withdraw_asks_then_withdraws_with_the_offer_id(rt):
    await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    await ask(rt, "确认")
    offer = await Offer.get()
    asked = await ask(rt, "/withdraw 张三")
    assert f"/withdraw {offer.id} confirm" in asked["text"]
    assert (await Offer.get(id=offer.id)).status == "sent"  # not before the confirmation
    other = await ask(rt, f"/withdraw {offer.id} confirm", sender="hr_other")
    assert other["text"] == t(rt, "commands.not_admin")
    done = await ask(rt, f"/withdraw {offer.id} confirm")
    assert done["text"] == t(rt, "commands.withdraw.done", id=offer.id)
    assert (await Offer.get(id=offer.id)).status == "withdrawn"
    late = await ask(rt, f"/withdraw {offer.id} confirm")
    assert late["text"] == t(rt, "commands.withdraw.not_pending", id=offer.id)
    none = await ask(rt, "/withdraw 张三")
    assert none["text"].startswith("张三") and "offer" in none["text"]
    assert not await KeyValue.filter(key__startswith="withdraw:").exists()


async def test_withdraw_confirmation_expires_after_10_minutes(rt):
    await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    await ask(rt, "确认")
    offer = await Offer.get()
    await ask(rt, "/withdraw 张三")
    await KeyValue.filter(key__startswith="withdraw:").update(
        expires_at=rt.clock() + timedelta(seconds=-1)
    )
    late = await ask(rt, f"/withdraw {offer.id} confirm")
    assert late["text"] == t(rt, "commands.withdraw.not_pending", id=offer.id)
    assert (await Offer.get(id=offer.id)).status == "sent"


async def test_the_chat_and_the_api_make_the_same_offer(rt):
    start = date.today() + timedelta(days=30)
    async with api(rt) as client:
        made = await hire(client, web_id="cand-api", name="张三", phone="13800138000")
        await post(client, "requisitions", {"external_id": "req-backend", "title": "后端工程师"})
    await ask(rt, f"/offer 李四 web:cand-chat 后端工程师 25000 {start.isoformat()}")
    await ask(rt, "确认")
    by_api = await Offer.get(id=made["id"])
    by_chat = await Offer.exclude(id=made["id"]).get()
    fields = ("status", "stage", "currency", "salary_monthly", "start_date", "requisition_id")
    assert [getattr(by_api, f) for f in fields] == [getattr(by_chat, f) for f in fields]
    assert by_api.data.keys() == by_chat.data.keys()

    async def kinds(offer: Offer) -> list[str]:
        rows = await TimelineEvent.filter(offer_id=offer.id).order_by("id")
        return [row.kind for row in rows]

    assert await kinds(by_api) == await kinds(by_chat)
    api_texts = await candidate_texts("cand-api")
    chat_texts = await candidate_texts("cand-chat")
    assert [x.replace("张三", "李四") for x in api_texts] == chat_texts
    assert "25,000" in chat_texts[0]
