"""The offer conversation end to end: offers created through the ATS API, the candidate
answering in the playground's chat (`web`), the worker doing the work, HR reading the HR
group. Real database, real (embedded) Redis; timers in seconds where a test waits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.channels.base import HR_GROUP, Outgoing
from bot.flows import offer_state as offer_flow
from bot.storage.models import (
    Alert,
    Candidate,
    DocumentChecklist,
    InboundEvent,
    Offer,
    Outbox,
    Reason,
    TimelineEvent,
    Timer,
)
from bot.vocab import OFFER_STATUSES, REASON_CATEGORIES
from tests.helpers import auth, drain, sent_messages
from tests.offer_steps import (
    CANDIDATE,
    MASKED,
    PHONE,
    api,
    candidate_texts,
    clicked,
    hire,
    hr_texts,
    post,
    said,
    send,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


async def offered(rt, **kw) -> Offer:
    """An offer delivered to the candidate on `web`."""
    async with api(rt) as client:
        answer = await hire(client, **kw)
    await drain(rt)
    return await Offer.get(id=answer["id"])


async def timeline(offer: Offer) -> list[TimelineEvent]:
    return await TimelineEvent.filter(offer_id=offer.id).order_by("id")


async def kinds(offer: Offer) -> list[str]:
    return [e.kind for e in await timeline(offer)]


async def pending_timers(offer: Offer) -> dict[str, Timer]:
    rows = await Timer.filter(offer_id=offer.id, status="pending")
    return {t.kind: t for t in rows}


def no_full_phone(texts: list[str]) -> None:
    for text in texts:
        assert PHONE not in text, text


# -- the offer message ------------------------------------------------------------------


async def test_offer_message_has_the_facts_buttons_and_a_text_fallback(rt):
    offer = await offered(rt, contract_url="https://hr.example.com/contract/42.pdf")
    [message] = await sent_messages("web", CANDIDATE)
    text = message["text"]
    for fact in ("后端工程师", "25,000 元", offer.start_date.isoformat(), "contract/42.pdf"):
        assert fact in text
    assert "1 接受 offer" in text and "2 婉拒" in text and "3 我有问题" in text
    actions = {a["key"]: a for a in message["actions"]}
    assert [actions[k]["command"] for k in ("accept", "decline", "question")] == ["1", "2", "3"]
    assert actions["decline"]["confirm"]  # a decline click asks to confirm
    assert all(a["value"] == {"offer_id": offer.id} for a in actions.values())
    # Delivered: the clock starts now; the default deadline counts from delivery.
    assert (offer.status, offer.stage) == ("sent", "awaiting_reply")
    assert offer.delivered_at is not None
    expires_after = rt.settings.timers.offer_expires_after
    assert abs(offer.expires_at - (offer.delivered_at + expires_after)) < timedelta(seconds=1)
    timers = await pending_timers(offer)
    assert set(timers) == {"offer_remind", "offer_escalate", "offer_expire"}
    assert timers["offer_remind"].key == f"offer:{offer.id}:remind"
    unconfirmed = rt.settings.timers.offer_unconfirmed_after
    assert timers["offer_remind"].due_at == offer.delivered_at + unconfirmed
    assert timers["offer_expire"].due_at == offer.expires_at
    assert await kinds(offer) == ["offer_created", "offer_queued", "offer_delivered"]


async def test_an_explicit_deadline_is_kept_as_given(rt):
    deadline = (rt.clock() + timedelta(days=3)).replace(microsecond=0)
    offer = await offered(rt, expires_at=deadline.isoformat())
    assert offer.expires_at == deadline
    assert (await pending_timers(offer))["offer_expire"].due_at == deadline


async def test_advisory_reaches_hr_before_the_candidate_is_messaged(rt):
    offer = await offered(
        rt,
        expectations={
            "salary_min": 30000,
            "remote_days_per_week": 3,
            "location": "北京",
            "notes": "希望弹性工作",
        },
    )
    alert = await Alert.get(offer_id=offer.id, kind="advisory")
    [card] = await sent_messages("web", HR_GROUP)
    for line in ("30,000 元", "25,000 元", "每周远程 3 天", "1 天", "北京", "上海", "希望弹性工作"):
        assert line in card["text"], line
    assert f"#{alert.id}" in card["text"] and MASKED in card["text"]
    assert [a["command"] for a in card["actions"]] == [f"/claim {alert.id}", f"/resolve {alert.id}"]
    advisory = await Outbox.get(recipient_id=HR_GROUP, alert_id=alert.id)
    offer_row = await Outbox.get(recipient_id=CANDIDATE, offer_id=offer.id)
    assert advisory.id < offer_row.id  # queued first


async def test_no_advisory_when_expectations_fit(rt):
    offer = await offered(
        rt, expectations={"salary_min": 20000, "remote_days_per_week": 1, "location": "上海市"}
    )
    assert not await Alert.filter(offer_id=offer.id).exists()
    assert await hr_texts() == []


# -- the candidate's answers ------------------------------------------------------------


async def test_accept(k):
    await k.offer()
    await k.says("好的，我接受这个offer！")
    offer = await k.offer_row()
    assert (offer.status, offer.stage) == ("accepted", "confirmed")
    assert offer.accepted_at is not None and offer.last_reply_at is not None
    assert "欢迎加入示例科技" in k.texts()[1]
    [notice] = k.hr_texts
    assert "张三" in notice and MASKED in notice and "接受" in notice
    no_full_phone(k.hr_texts)
    # The documents flow starts; the offer's own timers are done.
    assert await DocumentChecklist.filter(offer_id=offer.id).exists()
    assert not {"offer_remind", "offer_escalate", "offer_expire"} & set(await k.timers())
    [accepted] = [e for e in await k.timeline() if e.kind == "offer_accepted"]
    assert (accepted.actor, accepted.data["from"]) == (f"web:{CANDIDATE}", "sent/awaiting_reply")


async def test_decline_with_a_reason_in_words(k):
    await k.offer("declined/awaiting_decline_reason")  # by the 婉拒 button
    offer = await k.offer_row()
    assert offer.declined_at is not None and offer.closed_at is not None
    question = k.to_candidate[-1]
    assert question.actions == [f"reason:{c}" for c in REASON_CATEGORIES]
    assert question.commands == [str(n) for n in range(1, 12)]
    assert "1 薪资待遇不符合预期" in question.text and "11 其他原因" in question.text
    [alert] = await k.alerts(kind="decline")
    assert "等待回复" in k.hr_texts[-1]

    await k.says("薪资比我的预期低了不少，抱歉")
    offer = await k.offer_row()
    assert (offer.status, offer.stage) == ("declined", "closed")
    [reason] = await Reason.filter(offer_id=offer.id)
    assert (reason.kind, reason.category) == ("decline", "salary")
    assert reason.text == "薪资比我的预期低了不少，抱歉"
    assert (offer.reason_category, offer.reason_text) == ("salary", reason.text)
    update = k.hr_texts[-1]
    assert f"#{alert.id}" in update and "薪资比我的预期低了不少" in update
    assert "薪酬结构" in update  # talking points for the reason
    assert "谢谢您的坦诚反馈" in k.texts()[-1]
    assert len(await k.alerts()) == 1  # updated, not a new alert
    assert "reason_recorded" in await k.kinds()


async def test_decline_by_digits_then_a_reason_from_the_menu(k):
    offer = await k.offer()
    assert (await k.says("2"), await k.says("9")) == ("offer_decline", "offer_reason")  # 9: process
    [reason] = await Reason.filter(offer_id=offer.id)
    assert (reason.category, reason.text) == ("process", None)


async def test_decline_reason_by_button(k):
    offer = await k.offer()
    await k.says("不好意思，我决定不去了")
    await k.clicks("reason:competing_offer")
    [reason] = await Reason.filter(offer_id=offer.id)
    assert (reason.category, reason.text) == ("competing_offer", None)
    assert await k.state() == "declined/closed"


async def test_hesitation_alerts_hr_and_repeats_update_the_same_alert(k):
    await k.offer("sent/hesitating")  # "我再考虑一下，薪资能否再谈"
    [alert] = await k.alerts()
    assert (alert.kind, alert.status, alert.data["concerns"]) == ("hesitate", "open", ["salary"])
    [card] = k.to_hr
    for part in (f"#{alert.id}", "张三", MASKED, "后端工程师", "25,000 元"):
        assert part in card.text, part
    assert "我再考虑一下，薪资能否再谈" in card.text
    assert "薪酬结构" in card.text  # a talking point for salary
    assert [(a.key, a.command, a.value) for a in card.message.actions] == [
        ("claim", f"/claim {alert.id}", {"alert_id": alert.id}),
        ("resolve", f"/resolve {alert.id}", {"alert_id": alert.id}),
        ("correct", f"/correct {alert.id}", {"alert_id": alert.id}),  # born from words
    ]
    assert "HR 尽快联系您" in k.texts()[-1]
    # HR is on it: no reminder and no "silent" alert; the deadline still stands.
    assert set(await k.timers()) == {"offer_expire"}

    await k.says("还有，加班多吗？")
    [alert] = await k.alerts()
    assert alert.updates == 1 and alert.data["concerns"] == ["salary", "overtime"]
    assert [r["text"] for r in alert.data["replies"]] == [
        "我再考虑一下，薪资能否再谈",
        "还有，加班多吗？",
    ]
    update = k.hr_texts[-1]
    assert update.startswith(f"🔁 #{alert.id}") and "加班多吗" in update
    assert "调休" in update and "薪酬结构" not in update  # only the new concern's points
    assert len(k.hr_texts) == 2


async def test_talking_points_come_from_config_when_set(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(talking_points={"salary": ["强调年终奖 4 个月"]}))
    await offered(rt)
    await send(rt, said("薪资能不能再高一点"))
    card = (await hr_texts())[-1]
    assert "强调年终奖 4 个月" in card and "薪酬结构" not in card


async def test_question_button_then_the_question(k):
    """The click only asks for the question: HR is alerted once, with the words."""
    await k.offer()
    hr_before = len(k.hr_texts)
    await k.clicks("question")
    assert await k.alerts() == [] and len(k.hr_texts) == hr_before
    assert "请直接输入您的问题" in k.texts()[-1]
    assert await k.state() == "sent/awaiting_reply"
    await k.says("团建")  # words the classifier alone calls "other"
    [alert] = await k.alerts()
    assert (alert.kind, alert.updates) == ("question", 0)
    assert "团建" in k.hr_texts[-1] and "点击了" not in "\n".join(k.hr_texts)
    assert "已转给 HR" in k.texts()[-1]
    assert "question_pending" not in (await k.offer_row()).data


async def test_a_question_click_with_no_words_reaches_hr_with_the_silence_alert(k):
    """我有问题, then nothing: the reminder is off, the escalation tells HR about the click."""
    await k.offer()
    await k.clicks("question")
    timers = await k.timers()
    assert "offer_remind" not in timers and "offer_escalate" in timers
    await k.due(k.offers[-1], "offer_escalate")
    [alert] = await k.alerts()
    assert alert.kind == "silent"
    assert "我有问题" in k.hr_texts[-1]


async def test_a_hesitation_after_a_question_escalates_the_same_alert(rt):
    offer = await offered(rt)
    await send(rt, said("请问试用期多久？"))
    await send(rt, said("我还在等另一家的结果，能晚几天答复吗"))
    [alert] = await Alert.filter(offer_id=offer.id)
    assert alert.kind == "hesitate" and alert.updates == 1
    assert "competing_offer" in alert.data["concerns"]


async def test_other_words_get_a_nudge_and_cancel_only_the_reminder(k):
    await k.offer()
    assert await k.says("在吗") == "offer_other"
    assert "回复 1 接受、2 婉拒、3 提问" in k.texts()[-1]
    assert set(await k.timers()) == {"offer_escalate", "offer_expire"}
    assert await k.state() == "sent/awaiting_reply"


async def test_duplicate_clicks_change_the_state_once(k):
    await k.offer("accepted/confirmed")  # by the 接受 button
    await k.clicks("accept")
    assert [kind for kind in await k.kinds() if kind == "offer_accepted"] == ["offer_accepted"]
    assert "无需重复操作" in k.texts()[-1]
    assert len(k.hr_texts) == 1  # HR told once

    second = await k.offer(
        "declined/awaiting_decline_reason", web_id="cand2", name="李四", phone="13900139000"
    )
    await k.clicks("decline", second)
    assert await k.state(second) == "declined/awaiting_decline_reason"  # not a reason
    assert not await Reason.filter(offer_id=second.id).exists()
    assert "已记录" in k.texts(second)[-1]
    await k.clicks("reason:salary", second)
    await k.clicks("reason:timing", second)
    assert [r.category for r in await Reason.filter(offer_id=second.id)] == ["salary"]
    assert "已记录" in k.texts(second)[-1]


async def test_a_click_on_someone_elses_offer_is_not_taken(rt):
    mine = await offered(rt)
    other = await offered(rt, web_id="cand2", name="李四", phone="13900139000")
    await send(rt, clicked("accept", CANDIDATE, offer_id=other.id))
    await send(rt, clicked("accept", CANDIDATE, offer_id="1 OR 1=1"))
    assert (await Offer.get(id=other.id)).status == "sent"
    assert (await Offer.get(id=mine.id)).status == "sent"


async def test_hr_sees_scrubbed_words(rt):
    await offered(rt)
    await send(rt, said("我有点犹豫。身份证 110101199003071234，电话 139 1234 5678 可以联系我"))
    card = (await hr_texts())[-1]
    assert "110101199003071234" not in card and "[ID]" in card
    assert "139 1234 5678" not in card and "139****5678" in card
    no_full_phone(await hr_texts())


# -- timers -------------------------------------------------------------------------------


async def test_silence_gets_one_reminder_then_hr_is_alerted(settings_factory, make_runtime):
    rt = await make_runtime(
        settings_factory(
            timers={
                "offer_unconfirmed_after": "1s",
                "offer_escalate_after": "2s",
                "offer_expires_after": "1h",
            }
        )
    )
    offer = await offered(rt)  # drain waits for the due timers
    offer = await Offer.get(id=offer.id)
    assert offer.reminders_sent == 1 and offer.status == "sent"
    texts = await candidate_texts()
    assert len(texts) == 2 and "还在等您答复" in texts[1] and "回复 1 接受" in texts[1]
    reminder = (await sent_messages("web", CANDIDATE))[1]
    assert [a["command"] for a in reminder["actions"]] == ["1", "2", "3"]
    [alert] = await Alert.filter(offer_id=offer.id)
    assert alert.kind == "silent"
    card = (await hr_texts())[-1]
    assert "候选人还没有答复" in card and "已发提醒 1 次" in card and f"/claim {alert.id}" in card
    assert {"reminder_sent", "silent_escalated"} <= set(await kinds(offer))
    assert set(await pending_timers(offer)) == {"offer_expire"}


async def test_a_reply_stops_the_reminder_but_not_the_escalation(k):
    offer = await k.offer()
    await k.says("收到")  # words that decide nothing
    assert set(await k.timers()) == {"offer_escalate", "offer_expire"}
    assert (await Timer.get(offer_id=offer.id, kind="offer_remind")).status == "cancelled"
    # Two days pass without a decision: the escalation comes due and HR hears of it.
    await k.due(offer, "offer_escalate")
    offer = await k.offer_row()
    assert offer.reminders_sent == 0
    assert "reminder_sent" not in await k.kinds()
    [alert] = await k.alerts(kind="silent")
    assert alert.data["last_message"] == "收到"
    assert "最近一条消息：「收到」" in k.hr_texts[-1]


async def test_expiry(settings_factory, make_runtime):
    rt = await make_runtime(
        settings_factory(
            timers={
                "offer_unconfirmed_after": "1h",
                "offer_escalate_after": "2h",
                "offer_expires_after": "1s",
            }
        )
    )
    offer = await offered(rt)
    offer = await Offer.get(id=offer.id)
    assert (offer.status, offer.stage) == ("expired", "closed")
    assert offer.expired_at is not None and offer.closed_at is not None
    assert "已过答复期限" in (await candidate_texts())[-1]
    [alert] = await Alert.filter(offer_id=offer.id)
    assert alert.kind == "expiry" and f"#{alert.id}" in (await hr_texts())[-1]
    assert await pending_timers(offer) == {}
    [expired] = [e for e in await timeline(offer) if e.kind == "offer_expired"]
    assert expired.actor == "timer"


# -- after acceptance, after closing --------------------------------------------------------


async def test_renege_after_acceptance(k):
    await k.offer("accepted/confirmed")
    await k.says("非常抱歉，家里临时有变故，我去不了了")
    offer = await k.offer_row()
    assert (offer.status, offer.stage) == ("reneged", "awaiting_renege_reason")
    assert offer.reneged_at is not None
    [alert] = await k.alerts(kind="renege")
    assert f"#{alert.id}" in k.hr_texts[-1] and "家里临时有变故" in k.hr_texts[-1]
    assert "很遗憾您不能加入" in k.texts()[-1]
    assert await k.timers() == {}  # the documents flow's timers are off too
    await k.says("家人生病需要照顾")
    [reason] = await Reason.filter(offer_id=offer.id)
    assert (reason.kind, reason.category) == ("renege", "family")
    assert await k.state() == "reneged/closed"


async def test_questions_after_acceptance_alert_hr_without_a_state_change(rt):
    offer = await offered(rt)
    await send(rt, clicked("accept", offer_id=offer.id))
    await send(rt, said("入职当天需要几点到？"))
    assert (await Offer.get(id=offer.id)).status == "accepted"
    [alert] = await Alert.filter(offer_id=offer.id)
    assert alert.kind == "question"


async def test_withdraw_by_the_company(k):
    offer = await k.offer()
    assert (await k.withdraw())["status"] == "withdrawn"
    assert await k.state() == "withdrawn/closed"
    again = await (await k.api()).post(f"/api/v1/offers/{offer.id}/withdraw", headers=auth())
    assert again.status == 409
    assert "已由公司撤回" in k.texts()[-1]
    assert await k.timers() == {}
    [withdrawn] = [e for e in await k.timeline() if e.kind == "offer_withdrawn"]
    assert withdrawn.actor == "api"
    await k.says("我接受")
    assert (await k.offer_row()).status == "withdrawn"
    assert "已撤回" in k.texts()[-1]


async def test_withdrawing_before_delivery_cancels_the_message(rt):
    async with api(rt) as client:
        answer = await hire(client)
        await post(client, f"offers/{answer['id']}/withdraw")
    await drain(rt)
    assert await candidate_texts() == []
    assert (await Outbox.get(offer_id=answer["id"], recipient_id=CANDIDATE)).status == "cancelled"


async def test_a_reply_after_the_offer_closed_changes_nothing(k):
    await k.offer()
    await k.says("2")
    await k.says("地点太远了")
    before, hr_before = await k.kinds(), len(k.hr_texts)
    await k.says("我后悔了，还能接受吗？")
    assert await k.state() == "declined/closed"
    assert "已按您的意愿婉拒" in k.texts()[-1]
    after = await k.kinds()
    assert after[: len(before)] == before
    assert not {"offer_accepted", "reason_recorded"} & set(after[len(before) :])
    # HR is still working on the decline: the late words join that alert.
    assert len(k.hr_texts) == hr_before + 1 and "我后悔了" in k.hr_texts[-1]


# -- nothing lost silently ------------------------------------------------------------------


async def test_a_message_that_cannot_go_out_alerts_hr_with_its_text(rt):
    offer = await offered(rt)
    candidate = await Candidate.get(id=offer.candidate_id)
    fx = rt.fx()
    # Queued for a platform that is not (or no longer) enabled: the worker gives up.
    for n in (1, 2):
        await fx.to_candidate(
            candidate,
            Outgoing(text=f"第 {n} 条：请尽快回复"),
            f"test:{n}",
            offer=offer,
            platform="wecom",
            address="zhangsan",
        )
    await fx.flush()
    await drain(rt)
    [alert] = await Alert.filter(offer_id=offer.id, kind="undeliverable")
    # The two deliveries fail concurrently, so either may be the first one HR hears of.
    assert sorted(alert.data["messages"]) == ["第 1 条：请尽快回复", "第 2 条：请尽快回复"]
    first, second = alert.data["messages"]
    texts = await hr_texts()
    assert first in texts[-2] and "请手动转达" in texts[-2]
    assert texts[-1].startswith(f"🔁 #{alert.id}") and second.split("：")[0] in texts[-1]
    assert [k for k in await kinds(offer) if k == "message_undeliverable"] == [
        "message_undeliverable",
        "message_undeliverable",
    ]


def _moves_in_code() -> set[str]:
    """Every event the code hands to `move(fx, offer, "<event>", …)`, read from bot/."""
    import ast
    from pathlib import Path

    events = set()
    for path in (Path(__file__).resolve().parent.parent / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            # move(fx, offer, event) and the offer flow's _close_by_candidate(…, event, …)
            at = {"move": 2, "_close_by_candidate": 3}.get(name)
            if at is not None and len(node.args) > at and isinstance(node.args[at], ast.Constant):
                events.add(node.args[at].value)
    return events


def _status_writes_outside_the_table() -> list[str]:
    """Lines that set an offer's status without `move` (bot/flows/offer_state.py)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "bot"
    found = []
    for path in root.rglob("*.py"):
        if path.name == "offer_state.py" or "migrations" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"offer\.status\s*=[^=]|Offer\.filter\(.*\)\.update\([^)]*status=", line):
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


async def test_the_state_table_is_complete():
    """Every transition the code makes is a row of the table and every row is used; every
    status change goes through `move`; closed states lead nowhere; every status can be
    reached."""
    table = offer_flow.TRANSITIONS
    assert set(table) == _moves_in_code()
    assert _status_writes_outside_the_table() == []
    sources = {source for edges in table.values() for source in edges}
    assert not any(s.endswith("/closed") for s in sources)
    reached = {target[0] for edges in table.values() for target in edges.values()}
    assert reached | {"sent"} == set(OFFER_STATUSES)


# -- a whole conversation, written out ------------------------------------------------------


async def transcript() -> str:
    """Everyone's messages in the order they happened: what people sent, what the bot sent."""
    said_rows = await InboundEvent.all().order_by("id")
    sent_rows = await Outbox.filter(status="sent").order_by("id")
    entries = [
        (r.received_at, f"[{r.payload['sender_id']}]", r.payload.get("text", "")) for r in said_rows
    ]
    for row in sent_rows:
        where = "HR group" if row.recipient_id == HR_GROUP else row.recipient_id
        entries.append((row.created_at, f"[bot → {where}]", row.payload["text"]))
    entries.sort(key=lambda e: e[0])
    return "\n\n".join(f"{who}\n{text}" for _, who, text in entries)


async def test_transcript(rt):
    """One conversation, candidate and HR side, written to test-artifacts/transcript.txt."""
    offer = await offered(
        rt, expectations={"salary_min": 28000, "remote_days_per_week": 2, "location": "上海"}
    )
    await send(rt, said("谢谢！我再考虑一下，薪资能否再谈？另外想了解一下加班多吗"))
    alert = await Alert.get(offer_id=offer.id, kind="hesitate")
    await send(rt, said(f"/claim {alert.id}", user="hr1"))
    await send(rt, said("好的，和 HR 聊过了，我接受offer 😊"))
    text = await transcript()
    events = await TimelineEvent.filter(offer_id=offer.id).order_by("id")
    text += "\n\n[timeline]\n" + "\n".join(f"{e.kind:22} {e.actor:12} {e.data}" for e in events)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "transcript.txt").write_text(text, encoding="utf-8")
    print(text)
    assert (await Offer.get(id=offer.id)).status == "accepted"
    assert text.index("我再考虑一下") < text.index("🤔 候选人犹豫") < text.index("欢迎加入")
