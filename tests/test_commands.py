"""HR slash commands (SPEC §2.4), typed by HR on the `web` platform and answered by the
worker through the outbox: who may run them, lookups, every command, hostile arguments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.analytics import compute_stats
from bot.commands.dispatch import COMMANDS
from bot.history_text import alert_kind_label
from bot.storage.models import (
    Alert,
    Candidate,
    Document,
    KeyValue,
    Note,
    Offer,
    Outbox,
    TimelineEvent,
)
from tests.helpers import sent_messages
from tests.hr_data import application, ask, candidate, interview, offer, requisition

ID_NUMBER = "110101199003071234"


async def person(rt, name="张三", phone="13800138000", **fields):
    """A candidate with one application, two interviews and an offer waiting for them."""
    now = rt.clock()
    who = await candidate(name, phone, **fields)
    req = await requisition("后端工程师")
    app = await application(who, req, now - timedelta(days=20), source="Boss直聘")
    await interview(app, 1, now - timedelta(days=15), score=4, interviewer="李四", notes="基础扎实")
    await interview(
        app, 2, now - timedelta(days=12), score=3, notes=f"对加班有顾虑，身份证 {ID_NUMBER}"
    )
    sent = await offer(app, "sent", sent_at=now - timedelta(hours=30), expires_at=now)
    return who, sent


# -- who may run commands -------------------------------------------------------------------


async def test_help_lists_every_command(rt):
    answer = await ask(rt, "/help")
    for name in COMMANDS:
        assert f"/{name}" in answer["text"]
    assert answer["to"] == "hr1"


@pytest.mark.parametrize("text", ["/help", "/history 张三", "/forget #1 confirm", "/nosuch"])
async def test_non_admin_gets_a_polite_refusal_and_nothing_happens(rt, text):
    who, _ = await person(rt)
    answer = await ask(rt, text, sender="candidate7")
    assert answer["text"] == rt.catalog.t("commands.not_admin")
    assert "张三" not in answer["text"]
    assert await Candidate.filter(id=who.id, erased_at__isnull=True).exists()
    assert not await KeyValue.exists()


async def test_non_admin_cannot_click_claim(rt):
    alert = await Alert.create(kind="hesitate")
    answer = await ask(
        rt, sender="intruder", kind="action", action={"action": "claim", "alert_id": alert.id}
    )
    assert answer["text"] == rt.catalog.t("commands.not_admin")
    assert (await Alert.get(id=alert.id)).status == "open"


async def test_admins_on_other_platforms_are_not_web_admins(rt):
    # `wecom:hr_zhang` is an admin; the same user id on another platform is not.
    answer = await ask(rt, "/help", sender="hr_zhang")
    assert answer["text"] == rt.catalog.t("commands.not_admin")


async def test_unknown_command_suggests_the_closest(rt):
    assert "/history" in (await ask(rt, "/histroy 张三"))["text"]
    assert "/pending" in (await ask(rt, "/PENDNG"))["text"]
    answer = await ask(rt, "/xyzzy")
    assert answer["text"] == rt.catalog.t("commands.unknown", name="xyzzy")


async def test_full_width_slash_from_a_chinese_keyboard_works(rt):
    assert (await ask(rt, "／help"))["text"].startswith(rt.catalog.t("commands.help_title"))


async def test_plain_text_from_hr_is_not_a_command(rt):
    answer = await ask(rt, "你好")
    assert answer["text"] == rt.catalog.t("common.unknown_reply")


# -- lookup and /history ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+86 138 0013 8000",
        "0086-138-0013-8000",
        "(+86) 13800138000",
        "8613800138000",
    ],
)
async def test_history_finds_a_phone_in_any_format(rt, query):
    who, _ = await person(rt)
    await person(rt, "李四", "13900139000")
    answer = await ask(rt, f"/history {query}")
    assert answer["text"].startswith(f"📋 张三 (#{who.id})")


@pytest.mark.parametrize(
    "query", ["ZS@Example.com", "ATS-42", "#{id}", "{id}", "三", "张"], ids=str
)
async def test_history_finds_by_email_external_id_bot_id_and_partial_name(rt, query):
    who, _ = await person(rt, email="zs@example.com", external_id="ATS-42")
    answer = await ask(rt, "/history " + query.format(id=who.id))
    assert answer["text"].startswith(f"📋 张三 (#{who.id})")


async def test_history_shows_the_whole_story_without_id_numbers(rt):
    who, sent = await person(rt, email="zs@example.com")
    await Note.create(candidate=who, author="web:hr1", text="期望 30k，手机 13800138000")
    alert = await Alert.create(kind="hesitate", candidate_id=who.id, offer_id=sent.id)
    await TimelineEvent.create(candidate=who, kind="reply", data={"text": "我再考虑一下"})
    text = (await ask(rt, "/history 张三"))["text"]
    assert text.startswith(f"📋 张三 (#{who.id}) · 13800138000")  # a private chat: in full
    assert "zs@example.com" in text
    assert "后端工程师" in text and "Boss直聘" in text
    assert "第1轮面试" in text and "4分" in text and "李四" in text and "基础扎实" in text
    assert "第2轮面试" in text and "对加班有顾虑" in text
    assert f"Offer #{sent.id}" in text and "待回复" in text and "20,000" in text
    assert "期望 30k" in text and "138****8000" in text  # free text is scrubbed
    assert f"\n  #{alert.id} " in text
    assert "我再考虑一下" in text
    assert ID_NUMBER not in text and "[ID]" in text


async def test_history_in_a_group_masks_phone_and_email(rt):
    await person(rt, email="zs@example.com")
    answer = await ask(rt, "/history 13800138000", group="hrchat")
    assert answer["to"] == "chat:hrchat"
    assert "138****8000" in answer["text"]
    assert "13800138000" not in answer["text"]
    assert "zs@example.com" not in answer["text"] and "z***@example.com" in answer["text"]


async def test_history_joins_the_same_persons_other_records(rt):
    old, _ = await person(rt)
    new = await candidate("张三", "+86 138 0013 8000")
    text = (await ask(rt, f"/history #{new.id}"))["text"]
    assert text.startswith(f"📋 张三 (#{new.id})")
    assert "后端工程师" in text  # the application lives on the older record


async def test_history_no_match(rt):
    await person(rt)
    answer = await ask(rt, "/history 王五")
    assert answer["text"] == rt.catalog.t("commands.no_match", query="王五")


async def test_history_many_matches_gives_a_numbered_short_list(rt):
    people = [await candidate(f"张{i}号", f"1380000{i:04d}") for i in range(10)]
    text = (await ask(rt, "/history 张", group="g"))["text"]
    lines = text.splitlines()
    assert lines[0] == rt.catalog.t("commands.many_matches", count=10)
    assert lines[1].startswith(f"1. 张0号 (#{people[0].id}) · 138****0000")
    assert any(line.startswith("8. ") for line in lines)
    assert not any(line.startswith("9. ") for line in lines)
    assert rt.catalog.t("commands.more_matches", more=2) in text
    assert f"/history #{people[0].id}" in text


@pytest.mark.parametrize(
    "hostile",
    [
        "'; DROP TABLE candidate; --",
        "{0.__class__}",
        "{name}",
        "%",
        "_",
        "\\",
        "张三' OR '1'='1",
        "x" * 5000,
    ],
    ids=[
        "sql",
        "format",
        "placeholder",
        "like-percent",
        "like-underscore",
        "backslash",
        "or",
        "huge",
    ],
)
async def test_hostile_arguments_are_just_text(rt, hostile):
    await person(rt)
    for cmd in ("history", "docs", "remind", "forget"):
        answer = await ask(rt, f"/{cmd} {hostile}")
        assert answer["text"].startswith(rt.catalog.t("commands.no_match", query="")[:6])
        assert "<class" not in answer["text"]
        assert len(answer["text"]) < 300
    assert await Candidate.filter(name="张三").count() == 1  # the table is still there
    assert await Note.all().count() == 0
    await ask(rt, f"/note {hostile} hello")
    assert await Note.all().count() == 0


async def test_an_id_number_typed_as_a_query_is_not_echoed(rt):
    answer = await ask(rt, f"/history {ID_NUMBER}", group="g")
    assert ID_NUMBER not in answer["text"]


# -- /pending ---------------------------------------------------------------------------------


async def test_pending_lists_waiting_offers_oldest_first(rt):
    now = rt.clock()
    older, older_offer = await person(rt, "老王", "13700137000", web_id="w-old")
    newer, _ = await person(rt, "小李", "13600136000")
    await Offer.filter(id=older_offer.id).update(
        created_at=now - timedelta(hours=80),
        delivered_at=now - timedelta(hours=50),
        reminders_sent=2,
    )
    done_app = await application(older, await requisition("销售"), now)
    await offer(done_app, "accepted", sent_at=now - timedelta(days=100))
    text = (await ask(rt, "/pending", group="g"))["text"]
    lines = text.splitlines()
    assert lines[0] == rt.catalog.t("commands.pending_title", count=2)
    assert lines[1].startswith(f"#{older_offer.id} 老王")
    assert "已等待 50 小时" in lines[1] and "已提醒 2 次" in lines[1]
    assert "137****7000" in lines[1]
    assert lines[2].startswith("#") and "小李" in lines[2]
    assert "已等待 30 小时" in lines[2] and "尚未送达" in lines[2]
    assert "销售" not in text


async def test_pending_with_nothing_waiting(rt):
    assert (await ask(rt, "/pending"))["text"] == rt.catalog.t("commands.pending_none")


# -- /docs ------------------------------------------------------------------------------------


async def test_docs_shows_the_checklist(rt):
    who, sent = await person(rt)
    await Offer.filter(id=sent.id).update(status="accepted", accepted_at=rt.clock())
    key, digest = rt.documents.put(who.id, b"\xff\xd8front", "jpg")
    await Document.create(
        candidate=who,
        offer_id=sent.id,
        item="id_card_front",
        sha256=digest,
        storage_key=key,
        size=7,
        mime="image/jpeg",
    )
    text = (await ask(rt, "/docs 张三"))["text"]
    lines = text.splitlines()
    assert "1/8" in lines[0]
    assert lines[1].startswith("✅")
    assert sum(line.startswith("❌") for line in lines) == 7


async def test_docs_without_an_offer(rt):
    await candidate("赵六")
    answer = await ask(rt, "/docs 赵六")
    assert answer["text"].startswith("赵六")
    assert "没有 offer" in answer["text"]


# -- /claim and /resolve ----------------------------------------------------------------------


async def test_claim_then_resolve_records_who_and_when(rt):
    who, sent = await person(rt)
    alert = await Alert.create(kind="hesitate", candidate_id=who.id, offer_id=sent.id)
    answer = await ask(rt, f"/claim {alert.id}")
    assert answer["text"].startswith("✅") and f"#{alert.id}" in answer["text"]
    row = await Alert.get(id=alert.id)
    assert (row.status, row.claimed_by) == ("claimed", "web:hr1")
    assert row.claimed_at is not None
    group = await sent_messages("web", "hr_group")
    assert "web:hr1" in group[-1]["text"]  # colleagues hear it from a private chat

    answer = await ask(rt, f"/resolve #{alert.id} 已电话沟通，候选人下周答复")
    row = await Alert.get(id=alert.id)
    assert (row.status, row.resolved_by) == ("resolved", "web:hr1")
    assert row.resolution_note == "已电话沟通，候选人下周答复"
    assert "已电话沟通" in answer["text"]
    again = await ask(rt, f"/claim {alert.id}")
    assert "处理完毕" in again["text"]
    kinds = await TimelineEvent.filter(candidate_id=who.id).values_list("kind", flat=True)
    assert {"alert_claimed", "alert_resolved"} <= set(kinds)


async def test_claim_button_does_what_the_command_does(rt):
    alert = await Alert.create(kind="question")
    answer = await ask(
        rt, kind="action", action={"action": "claim", "alert_id": alert.id}, group="hrchat"
    )
    assert answer["to"] == "chat:hrchat"
    row = await Alert.get(id=alert.id)
    assert (row.status, row.claimed_by) == ("claimed", "web:hr1")
    again = await ask(
        rt, kind="action", action={"action": "claim", "alert_id": alert.id}, group="hrchat"
    )
    kind = alert_kind_label(rt.catalog, "question")
    assert again["text"] == rt.catalog.t(
        "commands.alert_yours", alert=rt.catalog.t("commands.alert_ref", id=alert.id, kind=kind)
    )
    await ask(rt, kind="action", action={"action": "resolve", "alert_id": alert.id})
    assert (await Alert.get(id=alert.id)).status == "resolved"


async def test_claim_already_claimed_by_a_colleague(rt):
    alert = await Alert.create(kind="silent", status="claimed", claimed_by="wecom:hr_zhang")
    answer = await ask(rt, f"/claim {alert.id}")
    assert "wecom:hr_zhang" in answer["text"]
    assert (await Alert.get(id=alert.id)).claimed_by == "wecom:hr_zhang"


@pytest.mark.parametrize("args", ["", "abc", "12abc", "-1", "{0}", "1e9", "9999999999"])
async def test_claim_with_bad_ids_shows_usage(rt, args):
    answer = await ask(rt, f"/claim {args}")
    assert rt.catalog.t("commands.usage.claim") in answer["text"]


async def test_claim_unknown_alert(rt):
    answer = await ask(rt, "/resolve 999")
    assert answer["text"] == rt.catalog.t("commands.alert_not_found", id=999)


# -- /note, /remind ---------------------------------------------------------------------------


async def test_note_is_added_to_the_history(rt):
    who, _ = await person(rt)
    answer = await ask(rt, "/note 13800138000 候选人说下个月\n再联系")
    assert "张三" in answer["text"]
    note = await Note.get(candidate_id=who.id)
    assert (note.author, note.text) == ("web:hr1", "候选人说下个月\n再联系")
    assert "候选人说下个月 再联系" in (await ask(rt, "/history 张三"))["text"]
    usage = await ask(rt, "/note 张三")
    assert rt.catalog.t("commands.usage.note") in usage["text"]


async def test_remind_sends_the_candidate_a_reminder_now(rt):
    who, sent = await person(rt, web_id="cand-zs")
    answer = await ask(rt, "/remind 张三")
    assert answer["text"].startswith("🔔")
    to_candidate = await sent_messages("web", "cand-zs")
    assert len(to_candidate) == 1
    assert "后端工程师" in to_candidate[0]["text"] and "张三" in to_candidate[0]["text"]
    assert "{" not in to_candidate[0]["text"]
    assert (await Offer.get(id=sent.id)).reminders_sent == 1
    assert await TimelineEvent.filter(candidate_id=who.id, kind="reminder_sent").exists()


async def test_remind_without_a_chat_account_or_an_open_offer(rt):
    await person(rt)  # no platform identity: must be invited first
    answer = await ask(rt, "/remind 张三")
    assert "还没有绑定" in answer["text"]
    assert not await Outbox.filter(recipient_kind="user", candidate_id__isnull=False).exists()
    await candidate("孙七", web_id="c7")
    answer = await ask(rt, "/remind 孙七")
    assert "没有等待回复的 offer" in answer["text"]


# -- /stats -----------------------------------------------------------------------------------


async def test_stats_answers_with_numbers_and_a_chart(rt, settings):
    await person(rt)
    answer = await ask(rt, "/stats 7")
    assert answer["kind"] == "image"
    chart = settings.data_dir / "charts" / answer["image_key"]
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert answer["text"].startswith(rt.catalog.t("stats.title", days=7))
    assert "发出 1" in answer["text"]


@pytest.mark.parametrize("args", ["0", "abc", "-3", "99999", "7 days please"])
async def test_stats_with_bad_days_shows_usage(rt, args):
    answer = await ask(rt, f"/stats {args}")
    assert rt.catalog.t("commands.usage.stats") in answer["text"]


# -- /forget ----------------------------------------------------------------------------------


async def test_forget_asks_then_erases_pii_and_files_but_not_the_statistics(rt):
    who, sent = await person(rt, email="zs@example.com", web_id="cand-zs", external_id="ATS-1")
    await Offer.filter(id=sent.id).update(
        status="declined",
        declined_at=rt.clock(),
        reason_category="salary",
        reason_text="另一家多给 5k",
    )
    key, digest = rt.documents.put(who.id, b"%PDF-1.4 diploma", "pdf")
    await Document.create(
        candidate=who,
        offer_id=sent.id,
        item="diploma",
        sha256=digest,
        storage_key=key,
        size=16,
        mime="application/pdf",
    )
    await Note.create(candidate=who, author="web:hr1", text="私人备注")
    stored = rt.documents.path(key)
    assert stored.exists()
    now = rt.clock()
    before = await compute_stats(30, now=now)

    ask_answer = await ask(rt, "/forget 13800138000")
    assert f"/forget {who.id} confirm" in ask_answer["text"]
    assert await Candidate.filter(id=who.id, erased_at__isnull=True).exists()  # not yet

    done = await ask(rt, f"/forget {who.id} confirm")
    assert done["text"].startswith("🗑️")
    erased = await Candidate.get(id=who.id)
    assert erased.erased_at is not None
    assert (erased.phone, erased.email, erased.web_id, erased.external_id) == (None,) * 4
    assert "张三" not in erased.name
    assert not stored.exists()
    assert not await Document.filter(candidate_id=who.id).exists()
    assert (await Note.get(candidate_id=who.id)).text == ""
    assert (await Offer.get(id=sent.id)).reason_text is None
    assert await compute_stats(30, now=now) == before
    assert (await ask(rt, "/history 13800138000"))["text"].startswith("没有找到")
    assert not await KeyValue.filter(key__startswith="forget:").exists()


async def test_forget_confirmation_is_personal_and_expires(make_runtime, settings_factory):
    rt = await make_runtime(settings_factory(hr={"admins": ["web:hr1", "web:hr2"]}))
    who, _ = await person(rt)
    never_asked = await ask(rt, f"/forget {who.id} confirm")
    assert never_asked["text"] == rt.catalog.t("commands.forget_not_pending", id=who.id)

    await ask(rt, "/forget 张三")
    # Another admin cannot confirm someone else's request.
    other = await ask(rt, f"/forget {who.id} confirm", sender="hr2")
    assert other["text"] == rt.catalog.t("commands.forget_not_pending", id=who.id)
    await KeyValue.filter(key__startswith="forget:").update(
        expires_at=rt.clock() - timedelta(seconds=1)
    )
    late = await ask(rt, f"/forget #{who.id} confirm")
    assert late["text"] == rt.catalog.t("commands.forget_not_pending", id=who.id)
    assert (await Candidate.get(id=who.id)).erased_at is None

    by_name = await ask(rt, "/forget 张三 confirm")
    assert by_name["text"] == rt.catalog.t("commands.forget_confirm_by_id")
