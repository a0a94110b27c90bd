"""The documents flow end to end: inbound photos/files through the real worker, checks on
real bytes, storage on disk, what the candidate and HR are told, and the timers.

Candidates talk on the `web` platform; their uploads sit where the playground puts them
(`data_dir/uploads/<key>`) and the web channel's `download()` reads them back."""

import hashlib
import io
import itertools
import stat
from datetime import UTC, date, datetime, time, timedelta

from PIL import Image
from pypdf import PdfWriter
from tortoise.transactions import in_transaction

from bot.channels.base import HR_GROUP, Inbound, MediaRef
from bot.channels.web.channel import new_upload_key, upload_path, write_private
from bot.documents.checklist import checklist_state
from bot.flows.documents import start_documents
from bot.services.ingest import store_inbound
from bot.storage.models import (
    Alert,
    Application,
    Candidate,
    Document,
    DocumentChecklist,
    Offer,
    Outbox,
    Requisition,
    Timer,
)
from bot.worker import fire_timer
from tests.helpers import drain, sent_messages

CAND = "cand-web-1"
PHONE = "13800138000"
_events = itertools.count(1)


# -- real files --------------------------------------------------------------------------


def jpeg(size=(1280, 960), color=(40, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def png(size=(900, 700), color=(250, 250, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def pdf(password: str | None = None, pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password:
        writer.encrypt(password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# -- set-up ------------------------------------------------------------------------------


def local_today(rt) -> date:
    return datetime.now(rt.settings.company.tz).date()


async def accepted_offer(
    rt,
    *,
    start_date: date | None = None,
    documents: list[str] | None = None,
    guide: str | None = None,
    web_id: str = CAND,
    settle: bool = True,
) -> Offer:
    """An accepted offer (as the offer flow leaves it) whose documents flow has started.

    `settle=False` leaves the worker idle: drain() waits for deferred jobs (timers due in
    seconds, messages held by quiet hours), which some tests must schedule around."""
    requisition = await Requisition.create(
        title="后端工程师", documents=documents, onboarding_guide=guide, location="上海市徐汇区"
    )
    candidate = await Candidate.create(name="张三", phone=PHONE, web_id=web_id)
    application = await Application.create(
        candidate=candidate, requisition=requisition, applied_at=rt.clock()
    )
    offer = await Offer.create(
        application=application,
        candidate=candidate,
        requisition=requisition,
        salary_monthly=25000,
        start_date=start_date or local_today(rt) + timedelta(days=30),
        channel="web",
        status="accepted",
        accepted_at=rt.clock(),
    )
    fx = rt.fx()
    async with in_transaction():
        await start_documents(fx, offer)
    await fx.flush()
    if settle:
        await drain(rt)
    return offer


async def send_file(
    rt, data: bytes, *, filename: str = "photo.jpg", kind: str = "image", user: str = CAND
) -> None:
    key = new_upload_key()
    write_private(upload_path(rt.settings.data_dir, key), data)
    media = MediaRef(kind=kind, key=key, filename=filename)
    await store_inbound(
        rt,
        Inbound(
            platform="web", event_id=f"f{next(_events)}", sender_id=user, kind=kind, media=(media,)
        ),
    )
    await drain(rt)


async def say(rt, text: str, user: str = CAND) -> None:
    await store_inbound(
        rt, Inbound(platform="web", event_id=f"t{next(_events)}", sender_id=user, text=text)
    )
    await drain(rt)


async def last_text(user: str = CAND) -> str:
    return (await sent_messages("web", user))[-1]["text"]


async def hr_texts() -> list[str]:
    return [m["text"] for m in await sent_messages("web", HR_GROUP)]


async def current_docs(offer: Offer) -> dict[str, Document]:
    return {d.item: d for d in await Document.filter(offer_id=offer.id, status="current")}


# -- starting ----------------------------------------------------------------------------


async def test_start_asks_for_the_first_item_and_arms_the_timers(rt):
    start = local_today(rt) + timedelta(days=30)
    offer = await accepted_offer(rt, start_date=start)
    sent = await sent_messages("web", CAND)
    assert len(sent) == 1
    intro = sent[0]
    assert intro["kind"] == "card" and intro["title"] == "入职材料"
    assert "共 8 项" in intro["text"]
    assert "1. 身份证正面" in intro["text"] and "8. 证件照" in intro["text"]
    assert "先从「身份证正面」开始" in intro["text"] and "四角完整" in intro["text"]
    assert [a["command"] for a in intro["actions"]] == ["跳过", "进度"]

    midnight = datetime.combine(start, time(0), tzinfo=rt.settings.company.tz)
    timers = {t.kind: t for t in await Timer.filter(offer_id=offer.id)}
    assert {k: timers[k].key for k in timers} == {
        "docs_remind": f"offer:{offer.id}:docs_remind",
        "docs_hr_alert": f"offer:{offer.id}:docs_hr_alert",
        "onboard": f"offer:{offer.id}:onboard",
    }
    assert timers["docs_remind"].due_at == midnight - timedelta(days=3)
    assert timers["docs_hr_alert"].due_at == midnight - timedelta(days=1)
    assert timers["onboard"].due_at == midnight
    checklist = await DocumentChecklist.get(offer_id=offer.id)
    assert checklist.asking == "id_card_front"

    # Accepting twice (a retried job, a double click) starts nothing twice.
    fx = rt.fx()
    async with in_transaction():
        await start_documents(fx, offer)
    await fx.flush()
    await drain(rt)
    assert len(await sent_messages("web", CAND)) == 1
    assert await Timer.filter(offer_id=offer.id).count() == 3


async def test_requisition_checklist_overrides_the_default(rt):
    offer = await accepted_offer(rt, documents=["bank_card", "photo"])
    assert "共 2 项" in await last_text()
    state = await checklist_state(offer)
    assert [(i["key"], i["name"], i["status"]) for i in state] == [
        ("bank_card", "银行卡", "missing"),
        ("photo", "证件照", "missing"),
    ]
    assert (await checklist_state(offer, language="en"))[1]["name"] == "ID photo"


async def test_an_empty_checklist_goes_straight_to_the_guide(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(documents={"checklist": []}))
    offer = await accepted_offer(rt)
    sent = await sent_messages("web", CAND)
    assert [m["title"] for m in sent] == ["入职指南"]
    assert "已收齐（0 项）" in (await hr_texts())[0]
    kinds = {t.kind: t.status for t in await Timer.filter(offer_id=offer.id)}
    assert kinds == {"docs_remind": "cancelled", "docs_hr_alert": "cancelled", "onboard": "pending"}
    # A requisition that needs no documents says so with an empty list.
    await accepted_offer(rt, documents=[], web_id="cand-2")
    assert [m["title"] for m in await sent_messages("web", "cand-2")] == ["入职指南"]


# -- receiving ---------------------------------------------------------------------------


async def test_a_photo_is_checked_stored_privately_and_confirmed(rt):
    offer = await accepted_offer(rt)
    data = jpeg()
    await send_file(rt, data, filename="IMG_0001.jpg")

    doc = (await current_docs(offer))["id_card_front"]
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert (doc.mime, doc.size, doc.filename) == ("image/jpeg", len(data), "IMG_0001.jpg")
    path = rt.documents.path(doc.storage_key)
    assert path.read_bytes() == data
    assert path.name == f"{doc.sha256}.jpg"
    assert path.parent.name == str(offer.candidate_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700

    reply = await last_text()
    assert reply.splitlines()[0] == "身份证正面 ✅ 1/8"
    assert "下一项：「身份证反面」" in reply
    assert (await DocumentChecklist.get(offer_id=offer.id)).asking == "id_card_back"


async def test_png_heic_and_pdf_fill_the_next_items_in_order(rt):
    offer = await accepted_offer(rt)
    heic = io.BytesIO()
    Image.new("RGB", (1000, 700), (90, 20, 20)).save(heic, format="HEIF")
    await send_file(rt, png(), filename="front.png")
    await send_file(rt, heic.getvalue(), filename="back.heic")
    await send_file(rt, pdf(pages=2), filename="diploma.pdf", kind="file")
    docs = await current_docs(offer)
    assert {k: d.mime for k, d in docs.items()} == {
        "id_card_front": "image/png",
        "id_card_back": "image/heic",
        "diploma": "application/pdf",
    }
    assert rt.documents.path(docs["diploma"].storage_key).suffix == ".pdf"
    assert (await last_text()).startswith("毕业证 ✅ 3/8")


async def test_failed_checks_tell_the_candidate_why_and_store_nothing(
    settings_factory, make_runtime
):
    rt = await make_runtime(settings_factory(storage={"max_document_mb": 0.05}))  # 51 KB
    offer = await accepted_offer(rt)

    await send_file(
        rt, b"%%EOF this is a text file with a .pdf name", filename="cv.pdf", kind="file"
    )
    assert "格式暂不支持" in await last_text()
    assert "JPG、PNG、HEIC 照片或 PDF" in await last_text()

    await send_file(rt, jpeg(size=(400, 300)), filename="tiny.jpg")
    reply = await last_text()
    assert reply.startswith("「身份证正面」没能通过检查")
    assert "400×300" in reply and "600 像素" in reply

    await send_file(rt, pdf(password="123456"), filename="locked.pdf", kind="file")
    assert "PDF 设置了密码" in await last_text()

    noise = Image.effect_noise((1600, 1200), 100).convert("RGB")
    big = io.BytesIO()
    noise.save(big, format="PNG")
    assert len(big.getvalue()) > 0.05 * 1024 * 1024
    await send_file(rt, big.getvalue(), filename="huge.png")
    assert "超过了 0.05 MB 的上限" in await last_text()

    assert await Document.filter(offer_id=offer.id).count() == 0
    assert not list((rt.settings.data_dir / "documents").glob("*/*"))
    assert (await DocumentChecklist.get(offer_id=offer.id)).asking == "id_card_front"
    problems = await rt_timeline(offer, "document_rejected")
    assert problems == ["unknown_type", "image_too_small", "pdf_encrypted", "too_large"]


async def rt_timeline(offer: Offer, kind: str) -> list[str]:
    from bot.storage.models import TimelineEvent

    rows = await TimelineEvent.filter(offer_id=offer.id, kind=kind).order_by("id")
    return [r.data.get("problem", r.data.get("item")) for r in rows]


async def test_the_photo_item_refuses_a_pdf(rt):
    offer = await accepted_offer(rt, documents=["photo"])
    await send_file(rt, pdf(), filename="me.pdf", kind="file")
    assert "这一项需要照片，不能用 PDF" in await last_text()
    await send_file(rt, jpeg(size=(600, 800)))
    assert (await sent_messages("web", CAND))[-2]["text"].startswith("证件照 ✅ 1/1")
    assert list(await current_docs(offer)) == ["photo"]


async def test_duplicates_are_recognised_politely(rt):
    offer = await accepted_offer(rt)
    data = jpeg()
    await send_file(rt, data)
    await send_file(rt, data)  # the same photo again, while the bot asks for the back side
    assert await last_text() == (
        "这份文件和您之前发的「身份证正面」完全一样。请发送「身份证反面」。"
    )
    await say(rt, "身份证正面")
    await send_file(rt, data)
    assert await last_text() == "这份「身份证正面」之前已经收到过了，不用重复发送哦。"
    assert await Document.filter(offer_id=offer.id).count() == 1


async def test_skip_progress_and_naming(rt):
    offer = await accepted_offer(rt)
    await send_file(rt, jpeg())
    await say(rt, "跳过")
    reply = await last_text()
    assert reply.startswith("好的，「身份证反面」稍后再发。")
    assert "下一项：「毕业证」" in reply

    await say(rt, "这是学位证")
    assert (await last_text()).startswith("请发送「学位证」")
    await send_file(rt, pdf(), filename="degree.pdf", kind="file")
    assert (await last_text()).startswith("学位证 ✅ 2/8")

    await say(rt, "6")  # by its number in the list
    assert (await last_text()).startswith("请发送「银行卡」")
    await send_file(rt, jpeg(color=(1, 2, 3)))
    docs = await current_docs(offer)
    assert set(docs) == {"id_card_front", "degree_certificate", "bank_card"}

    await say(rt, "进度")
    progress = await last_text()
    lines = progress.splitlines()
    assert lines[0] == "入职材料进度 3/8："
    assert lines[1] == "1. 身份证正面 ✅"
    assert lines[2] == "2. 身份证反面 ⏭ 稍后补"
    assert lines[3] == "3. 毕业证 ⏳ 待发送"
    assert lines[4] == "4. 学位证 ✅"
    state = {i["key"]: i["status"] for i in await checklist_state(offer)}
    assert state["id_card_back"] == "skipped" and state["bank_card"] == "done"
    assert (await checklist_state(offer))[0]["document_id"] == docs["id_card_front"].id


async def test_buttons_work_like_the_words(rt):
    offer = await accepted_offer(rt)
    for action in ("docs_skip", "docs_progress"):
        await store_inbound(
            rt,
            Inbound(
                platform="web",
                event_id=f"a{next(_events)}",
                sender_id=CAND,
                kind="action",
                action={"action": action, "offer_id": offer.id},
            ),
        )
        await drain(rt)
    sent = await sent_messages("web", CAND)
    assert sent[-2]["text"].startswith("好的，「身份证正面」稍后再发。")
    assert sent[-1]["text"].startswith("入职材料进度 0/8：")


async def test_skipping_everything_walks_through_what_is_left(rt):
    await accepted_offer(rt, documents=["bank_card", "photo"])
    await say(rt, "skip")
    await say(rt, "跳过")
    assert await last_text() == (
        "好的，「证件照」稍后再发。\n目前还差：银行卡、证件照。准备好了直接发过来就行，先说一声是哪一项会更准确。"
    )
    await send_file(rt, jpeg())  # the bot is back at the first put-off item
    assert (await last_text()).startswith("银行卡 ✅ 1/2")


async def test_replacing_an_item_marks_the_old_one_replaced(rt):
    offer = await accepted_offer(rt)
    old, new = jpeg(color=(5, 5, 5)), jpeg(color=(200, 5, 5))
    await send_file(rt, old)
    await say(rt, "重新发身份证正面")
    assert "会替换之前收到的那份" in await last_text()
    await send_file(rt, new)
    assert (await last_text()).startswith("身份证正面 已更新 ✅ 1/8")
    rows = await Document.filter(offer_id=offer.id).order_by("id")
    assert [(r.item, r.status) for r in rows] == [
        ("id_card_front", "replaced"),
        ("id_card_front", "current"),
    ]
    assert rows[1].sha256 == hashlib.sha256(new).hexdigest()
    assert rt.documents.path(rows[0].storage_key).read_bytes() == old  # kept for the record
    assert (await DocumentChecklist.get(offer_id=offer.id)).asking == "id_card_back"


async def test_complete_informs_hr_and_sends_the_default_guide(rt):
    offer = await accepted_offer(rt, documents=["id_card_front", "diploma"])
    await send_file(rt, jpeg())
    await send_file(rt, pdf(), kind="file")
    sent = await sent_messages("web", CAND)
    assert sent[-2]["text"] == "毕业证 ✅ 2/2\n全部入职材料已收齐 🎉 辛苦啦！入职指南随后发给您。"
    guide = sent[-1]
    assert guide["title"] == "入职指南"
    assert "张三，欢迎加入示例科技" in guide["text"]
    assert "上海市徐汇区" in guide["text"]  # the requisition's location as the address
    start = offer.start_date
    assert f"{start.month}月{start.day}日" in guide["text"]
    assert "请携带" in guide["text"] and "联系人" in guide["text"]

    hr = await hr_texts()
    assert len(hr) == 1
    assert "张三（138****8000）的入职材料已收齐（2 项）" in hr[0]
    assert PHONE not in hr[0]
    statuses = {t.kind: t.status for t in await Timer.filter(offer_id=offer.id)}
    assert statuses == {
        "docs_remind": "cancelled",
        "docs_hr_alert": "cancelled",
        "onboard": "pending",
    }
    assert (await DocumentChecklist.get(offer_id=offer.id)).completed_at is not None

    # Afterwards: a stray file asks which item it replaces; progress still answers.
    await send_file(rt, jpeg(color=(9, 9, 9)))
    assert "如需替换某一项，请先告诉我是哪一项" in await last_text()
    await say(rt, "skip")
    assert await last_text() == "入职材料已经全部收齐啦，不需要跳过哦。"
    await say(rt, "1")
    await send_file(rt, jpeg(color=(9, 9, 9)))
    assert (await last_text()) == "身份证正面 已更新 ✅ 2/2"
    assert len(await hr_texts()) == 1  # HR is told once
    assert len([m for m in await sent_messages("web", CAND) if m["title"] == "入职指南"]) == 1


async def test_the_requisition_guide_wins_and_only_known_placeholders_are_filled(rt):
    guide = "{name} 您好：{start_date} 上午 9 点到 A 座前台找李女士。{0.__class__} {unknown}"
    await accepted_offer(rt, documents=["photo"], guide=guide)
    await send_file(rt, jpeg())
    text = await last_text()
    assert text.startswith("张三 您好：")
    assert text.endswith("{0.__class__} {unknown}")


async def test_text_that_is_not_about_documents_is_left_for_the_offer_flow(rt):
    offer = await accepted_offer(rt)
    await say(rt, "不好意思，我不来了")
    await say(rt, "学位证需要原件吗？")
    docs_rows = await Outbox.filter(idempotency_key__startswith="docs:web:").count()
    assert docs_rows == 0
    assert (await DocumentChecklist.get(offer_id=offer.id)).asking == "id_card_front"


async def test_files_from_someone_without_an_accepted_offer_are_not_taken(rt):
    await accepted_offer(rt)
    await Candidate.create(name="李四", web_id="someone-else")
    await send_file(rt, jpeg(), user="someone-else")
    assert await Document.all().count() == 0
    assert await Outbox.filter(idempotency_key__startswith="docs:web:").count() == 0


async def test_a_declined_offer_takes_no_documents(rt):
    offer = await accepted_offer(rt)
    await Offer.filter(id=offer.id).update(status="reneged")
    await send_file(rt, jpeg())
    assert await Document.all().count() == 0


async def test_download_failures_and_hostile_names(rt):
    offer = await accepted_offer(rt)
    media = MediaRef(kind="image", key="../../../etc/passwd", filename="x.jpg")
    await store_inbound(
        rt,
        Inbound(platform="web", event_id="bad-key", sender_id=CAND, kind="image", media=(media,)),
    )
    await drain(rt)
    assert await last_text() == "抱歉，这个文件没有接收成功，麻烦再发送一次。"
    gone = MediaRef(kind="image", key=new_upload_key(), filename="x.jpg")
    await store_inbound(
        rt, Inbound(platform="web", event_id="gone", sender_id=CAND, kind="image", media=(gone,))
    )
    await drain(rt)
    assert await last_text() == "抱歉，这个文件没有接收成功，麻烦再发送一次。"

    await send_file(rt, jpeg(), filename="../../evil\x00name\n.jpg" + "x" * 400)
    doc = (await current_docs(offer))["id_card_front"]
    assert "/" not in doc.filename and "\x00" not in doc.filename and "\n" not in doc.filename
    assert len(doc.filename) == 255
    assert rt.documents.path(doc.storage_key).name == f"{doc.sha256}.jpg"


async def test_several_files_in_one_message_fill_items_in_order(rt):
    offer = await accepted_offer(rt)
    keys = []
    for data in (jpeg(color=(1, 1, 1)), jpeg(color=(2, 2, 2))):
        key = new_upload_key()
        write_private(upload_path(rt.settings.data_dir, key), data)
        keys.append(MediaRef(kind="image", key=key))
    await store_inbound(
        rt,
        Inbound(platform="web", event_id="multi", sender_id=CAND, kind="image", media=tuple(keys)),
    )
    await drain(rt)
    assert set(await current_docs(offer)) == {"id_card_front", "id_card_back"}
    reply = await last_text()
    assert reply.splitlines()[:2] == ["身份证正面 ✅ 1/8", "身份证反面 ✅ 2/8"]
    assert "下一项：「毕业证」" in reply


async def test_english_company_language(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(company={"language": "en", "quiet_hours": []}))
    await accepted_offer(rt, documents=["degree_certificate", "photo"])
    assert "Let's start with the degree certificate" in await last_text()
    await send_file(rt, pdf(), kind="file")
    reply = await last_text()
    assert reply.splitlines()[0] == "degree certificate ✅ 1/2"
    assert "Next: the ID photo." in reply
    await send_file(rt, pdf(), kind="file")
    assert "This file is identical to the degree certificate" in await last_text()


# -- timers --------------------------------------------------------------------------------


def seconds_before(settings, start: date, lead: float) -> str:
    """A `*_before_start` duration that puts the timer `lead` seconds from now."""
    midnight = datetime.combine(start, time(0), tzinfo=settings.company.tz)
    return f"{(midnight - datetime.now(UTC)).total_seconds() - lead:.3f}s"


async def test_reminder_and_hr_alert_fire_before_the_start_date(settings_factory, make_runtime):
    s = settings_factory()
    # Two days ahead, not one: run in the last seconds before local midnight, "tomorrow"
    # would start within drain()'s wait and the onboard timer would fire too.
    start = datetime.now(s.company.tz).date() + timedelta(days=2)
    rt = await make_runtime(
        settings_factory(
            timers={
                "documents_due_before_start": seconds_before(s, start, 5),
                "documents_hr_alert_before_start": seconds_before(s, start, 6),
            }
        )
    )
    offer = await accepted_offer(
        rt, start_date=start, documents=["id_card_front", "bank_card", "photo"], settle=False
    )
    # The photo is handled at once; the same drain() then waits for the two timers.
    await send_file(rt, jpeg())
    timers = {t.kind: t.status for t in await Timer.filter(offer_id=offer.id)}
    assert timers == {"docs_remind": "done", "docs_hr_alert": "done", "onboard": "pending"}

    sent = await sent_messages("web", CAND)
    assert [m["title"] for m in sent] == ["入职材料", "", "入职材料提醒"]
    reminder = sent[-1]["text"]
    assert f"{start.month}月{start.day}日" in reminder
    assert "2. 银行卡 ⏳ 待发送" in reminder and "3. 证件照 ⏳ 待发送" in reminder
    assert "身份证正面" not in reminder

    alert = await Alert.get(offer_id=offer.id)
    assert alert.kind == "documents_missing" and alert.status == "open"
    assert alert.data["missing"] == ["bank_card", "photo"]
    hr = (await sent_messages("web", HR_GROUP))[-1]
    assert f"#{alert.id}" in hr["text"].splitlines()[0]
    assert "还差 2 项：银行卡、证件照" in hr["text"]
    assert "张三（138****8000）" in hr["text"] and PHONE not in hr["text"]
    assert [a["command"] for a in hr["actions"]] == [f"/claim {alert.id}", f"/resolve {alert.id}"]
    assert (await Outbox.get(idempotency_key=f"docs:{offer.id}:hr_alert@web")).alert_id == alert.id


async def test_timers_do_nothing_once_the_checklist_is_complete(rt):
    offer = await accepted_offer(rt, documents=["photo"])
    timer = await Timer.get(key=f"offer:{offer.id}:docs_remind")
    await send_file(rt, jpeg())
    assert (await Timer.get(id=timer.id)).status == "cancelled"
    # Even if its job had been queued already, a cancelled timer does nothing.
    await Timer.filter(id=timer.id).update(due_at=rt.clock() - timedelta(seconds=1))
    assert await fire_timer({"rt": rt}, timer.id) == "skipped"
    assert not [m for m in await sent_messages("web", CAND) if m["title"] == "入职材料提醒"]


async def test_the_reminder_waits_for_quiet_hours_but_the_hr_alert_does_not(
    settings_factory, make_runtime
):
    s = settings_factory()
    now_local = datetime.now(s.company.tz)
    window = [
        (now_local - timedelta(hours=1)).strftime("%H:%M"),
        (now_local + timedelta(hours=1)).strftime("%H:%M"),
    ]
    rt = await make_runtime(settings_factory(company={"quiet_hours": window}))
    start = local_today(rt) + timedelta(days=10)
    # Not drained: the introduction itself is held until the quiet window ends.
    offer = await accepted_offer(rt, start_date=start, settle=False)
    intro = await Outbox.get(idempotency_key=f"docs:{offer.id}:start")
    assert intro.status == "pending" and intro.not_before > rt.clock() + timedelta(minutes=30)
    for kind in ("docs_remind", "docs_hr_alert"):
        timer = await Timer.get(key=f"offer:{offer.id}:{kind}")
        await Timer.filter(id=timer.id).update(due_at=rt.clock() - timedelta(seconds=1))
        assert await fire_timer({"rt": rt}, timer.id) == "fired"
    reminder = await Outbox.get(idempotency_key=f"docs:{offer.id}:remind")
    assert reminder.not_before > rt.clock() + timedelta(minutes=30)
    hr = await Outbox.get(idempotency_key=f"docs:{offer.id}:hr_alert@web")
    assert hr.not_before <= rt.clock()


async def test_start_date_onboards_and_lists_what_is_missing(rt):
    # Accepted on the start date itself: reminder and alert moments are past; onboard is due.
    offer = await accepted_offer(
        rt, start_date=local_today(rt), documents=["id_card_front", "photo"]
    )
    kinds = sorted(t.kind for t in await Timer.filter(offer_id=offer.id))
    assert kinds == ["onboard"]
    offer = await Offer.get(id=offer.id)
    assert offer.status == "onboarded" and offer.onboarded_at is not None
    alert = await Alert.get(offer_id=offer.id)
    hr = (await sent_messages("web", HR_GROUP))[-1]
    assert "今天入职" in hr["text"] and "还差 2 项：身份证正面、证件照" in hr["text"]
    assert f"#{alert.id}" in hr["text"]
    # Documents can still follow after day one.
    await send_file(rt, jpeg())
    assert (await last_text()).startswith("身份证正面 ✅ 1/2")


async def test_start_date_with_everything_in_says_so(rt):
    offer = await accepted_offer(
        rt, start_date=local_today(rt) + timedelta(days=5), documents=["photo"]
    )
    await send_file(rt, jpeg())
    timer = await Timer.get(key=f"offer:{offer.id}:onboard")
    await Timer.filter(id=timer.id).update(due_at=rt.clock() - timedelta(seconds=1))
    await drain(rt)
    assert (await Offer.get(id=offer.id)).status == "onboarded"
    assert (await hr_texts())[
        -1
    ] == "🎉 张三（138****8000）今天入职 · 后端工程师，入职材料已全部收齐。"
    assert await Alert.filter(offer_id=offer.id).count() == 0


async def test_no_onboarding_when_the_candidate_reneged(rt):
    offer = await accepted_offer(rt, start_date=local_today(rt) + timedelta(days=5))
    await Offer.filter(id=offer.id).update(status="reneged")
    for timer in await Timer.filter(offer_id=offer.id):
        await Timer.filter(id=timer.id).update(due_at=rt.clock() - timedelta(seconds=1))
    await drain(rt)
    assert (await Offer.get(id=offer.id)).status == "reneged"
    assert await hr_texts() == []
    assert len(await sent_messages("web", CAND)) == 1  # the introduction only


# -- with the real offer flow ----------------------------------------------------------------


async def test_from_the_api_offer_to_documents_after_accepting(rt):
    from tests.offer_steps import CANDIDATE, api, hire, said, send

    async with api(rt) as client:
        answer = await hire(client, requisition={"documents": ["id_card_front", "photo"]})
    await drain(rt)
    await send(rt, said("1"))  # accept
    intro = (await sent_messages("web", CANDIDATE))[-1]
    assert intro["title"] == "入职材料" and "共 2 项" in intro["text"]

    await send_file(rt, jpeg(), user=CANDIDATE)
    assert (await last_text(CANDIDATE)).startswith("身份证正面 ✅ 1/2")
    await send(rt, said("我不来了，不好意思"))  # a renege is the offer flow's, not ours
    offer = await Offer.get(id=answer["id"])
    assert offer.status == "reneged"
    await send_file(rt, jpeg(color=(7, 7, 7)), user=CANDIDATE)
    assert await Document.filter(offer_id=offer.id).count() == 1
