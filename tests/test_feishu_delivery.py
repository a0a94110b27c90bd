"""Feishu outbound through the worker: text, cards, HR group, PATCH, images, media
downloads, user lookup, tokens, rate limits and permanent errors — against the stand-in."""

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import Action, MediaRef, Outgoing, PermanentError, Recipient
from bot.channels.feishu.channel import FeishuChannel, feishu_uuid
from bot.storage.models import InboundEvent, Outbox
from tests.helpers import drain
from tests.standins.feishu import EKEY, VTOKEN, FeishuSender, Resource, feishu_config
from tests.test_feishu_webhook import post


async def queue(rt, address: str, message: Outgoing, key: str) -> Outbox:
    fx = rt.fx()
    row = await fx.to_user("feishu", address, message, key)
    await fx.flush()
    return row


async def test_text_goes_to_the_open_id_with_a_stable_uuid(frt, standin):
    row = await queue(frt, "ou_cand1", Outgoing(text="您好，张三"), "hello:1")
    await drain(frt)
    [sent] = standin.messages
    assert (sent["receive_id_type"], sent["receive_id"]) == ("open_id", "ou_cand1")
    assert sent["msg_type"] == "text"
    assert sent["content"] == {"text": "您好，张三"}
    assert sent["uuid"] == feishu_uuid("hello:1") and len(sent["uuid"]) <= 50
    row = await Outbox.get(id=row.id)
    assert row.status == "sent"
    assert row.platform_message_id == sent["message_id"]


async def test_quoted_text_cannot_mention_everyone(frt, standin):
    await queue(frt, "ou_c", Outgoing(text='候选人说：<at user_id="all">所有人</at>'), "k-at")
    await drain(frt)
    assert '<at user_id="all">' not in standin.messages[0]["content"]["text"]


async def test_card_with_actions_is_a_json2_interactive_card(frt, standin):
    message = Outgoing(
        title="Offer 待确认",
        text="回复 1 接受 / 2 拒绝 / 3 有疑问",
        actions=(
            Action(key="accept", label="接受", command="1", value={"offer_id": 5}),
            Action(
                key="decline", label="拒绝", command="2", value={"offer_id": 5}, confirm="确定？"
            ),
        ),
    )
    await queue(frt, "ou_cand1", message, "offer:5")
    await drain(frt)
    [sent] = standin.messages  # the stand-in refuses invalid cards with 230099
    card = sent["content"]
    assert sent["msg_type"] == "interactive"
    assert card["schema"] == "2.0" and card["config"]["update_multi"] is True
    assert card["header"]["title"]["content"] == "Offer 待确认"
    values = [
        col["elements"][0]["behaviors"][0]["value"]
        for col in card["body"]["elements"][1]["columns"]
    ]
    assert [(v["action"], v["offer_id"]) for v in values] == [("accept", 5), ("decline", 5)]


async def test_hr_alerts_go_to_the_hr_chat_and_commands_are_answered_in_their_group(frt, standin):
    fx = frt.fx()
    await fx.to_hr(Outgoing(text="候选人张三犹豫", title="提醒"), "alert:1")
    await fx.to_user("feishu", "chat:oc_team", Outgoing(text="/pending: 无"), "reply:1")
    await fx.flush()
    await drain(frt)
    targets = sorted((m["receive_id_type"], m["receive_id"]) for m in standin.messages)
    assert targets == [("chat_id", "oc_hr"), ("chat_id", "oc_team")]


async def test_replaces_patches_the_card(frt, standin):
    channel = frt.channels["feishu"]
    card = Outgoing(text="offer", actions=(Action(key="accept", label="接受", command="1"),))
    first = await channel.send(Recipient("user", "ou_c"), card, "card:1")
    await queue(frt, "ou_c", Outgoing(text="已接受 ✅", replaces=first.message_id), "card:1:done")
    await drain(frt)
    [patch] = standin.patches
    assert patch["message_id"] == first.message_id
    assert patch["content"]["body"]["elements"][0]["content"] == "已接受 ✅"
    assert len(standin.messages) == 1  # replaced, not sent again


async def test_chart_image_is_uploaded_then_sent_with_its_text(frt, standin):
    charts = frt.settings.data_dir / "charts"
    charts.mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"chart-bytes" * 10
    (charts / "stats-30.png").write_bytes(png)
    message = Outgoing(text="近 30 天：拒绝率 20%", kind="image", image_key="stats-30.png")
    await queue(frt, "chat:oc_hr", message, "stats:1")
    await drain(frt)
    text, image = standin.messages
    assert text["content"] == {"text": "近 30 天：拒绝率 20%"}
    assert image["msg_type"] == "image"
    assert standin.images[image["content"]["image_key"]] == png
    assert text["uuid"] != image["uuid"]


async def test_chart_outside_the_chart_folder_is_refused(frt, standin):
    secret = frt.settings.data_dir / "secret.png"
    secret.write_bytes(b"x")
    message = Outgoing(text="t", kind="image", image_key="../secret.png")
    row = await queue(frt, "ou_c", message, "stats:evil")
    await drain(frt)
    assert (await Outbox.get(id=row.id)).status == "failed"
    assert standin.calls_to("image") == []


# -- tokens ----------------------------------------------------------------------------------


async def test_expired_token_is_refreshed_once_and_the_message_delivered_once(frt, standin):
    await queue(frt, "ou_c", Outgoing(text="第一条"), "m:1")
    await drain(frt)
    assert len(standin.calls_to("token")) == 1
    standin.revoke_tokens()  # the cached token expires on Feishu's side
    row = await queue(frt, "ou_c", Outgoing(text="第二条"), "m:2")
    await drain(frt)
    assert len(standin.calls_to("token")) == 2
    creates = standin.calls_to("create")
    assert [c.answer_code for c in creates] == [0, 99991663, 0]
    assert [m["content"]["text"] for m in standin.messages] == ["第一条", "第二条"]
    assert (await Outbox.get(id=row.id)).status == "sent"


async def test_token_is_shared_by_processes_through_redis(frt, standin, make_runtime):
    other = await make_runtime(frt.settings)  # a second process on the same Redis
    await frt.channels["feishu"].send(Recipient("user", "ou_a"), Outgoing(text="a"), "a")
    await other.channels["feishu"].send(Recipient("user", "ou_b"), Outgoing(text="b"), "b")
    assert len(standin.calls_to("token")) == 1
    tokens = {c.token for c in standin.calls_to("create")}
    assert len(tokens) == 1


async def test_refused_app_secret_is_reported_and_nothing_is_sent(
    standin, settings_factory, make_runtime
):
    cfg = feishu_config(standin, app_secret="wrong")
    rt = await make_runtime(settings_factory(feishu=cfg))
    row = await queue(rt, "ou_c", Outgoing(text="hi"), "m:bad-secret")
    await drain(rt)
    assert "app_secret" in rt.problems["feishu"]
    row = await Outbox.get(id=row.id)
    assert row.status == "failed"  # after delivery.max_attempts, with the reason kept
    assert "tenant_access_token refused" in row.last_error
    assert standin.calls_to("create") == []
    async with TestClient(TestServer(build_app(rt))) as client:
        ready = await (await client.get("/readyz")).json()
    assert "feishu" in ready["problems"]


# -- retries and permanent errors ----------------------------------------------------------


async def test_429_is_retried_after_the_reset_with_the_same_uuid(frt, standin):
    standin.fail(
        "create", status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "1"}, times=1
    )
    row = await queue(frt, "ou_c", Outgoing(text="稍后到达"), "m:429")
    await drain(frt)
    first, second = standin.calls_to("create")
    assert first.answer_code == 99991400 and second.answer_code == 0
    assert second.at - first.at >= 1.0  # waited for x-ogw-ratelimit-reset
    assert first.body["uuid"] == second.body["uuid"]
    assert len(standin.messages) == 1
    assert (await Outbox.get(id=row.id)).status == "sent"


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 400, "code": 230020, "msg": "This operation triggers the frequency limit"},
        {"status": 502, "raw": b"<html>bad gateway</html>"},
        {"status": 500, "code": 1, "msg": "internal error"},
    ],
    ids=["230020", "html-502", "500"],
)
async def test_transient_failures_are_retried_and_delivered_once(frt, standin, failure):
    standin.fail("create", times=2, **failure)
    row = await queue(frt, "ou_c", Outgoing(text="x"), "m:transient")
    await drain(frt)
    assert len(standin.calls_to("create")) == 3
    assert len(standin.messages) == 1
    assert (await Outbox.get(id=row.id)).status == "sent"


@pytest.mark.parametrize(
    "code, msg",
    [
        (230013, "Bot has NO availability to this user."),
        (232009, "Your request specified a chat that is not accessible."),
        (230002, "The bot is not in the chat."),
    ],
)
async def test_unreachable_recipient_fails_permanently_and_keeps_the_message(
    frt, standin, code, msg
):
    standin.unreachable["ou_outside"] = (code, msg)
    row = await queue(frt, "ou_outside", Outgoing(text="您的 offer 已发出"), f"m:{code}")
    await drain(frt)
    assert len(standin.calls_to("create")) == 1  # not retried
    row = await Outbox.get(id=row.id)
    assert row.status == "failed"
    assert row.last_error.startswith(f"{code}:")
    assert row.payload["text"] == "您的 offer 已发出"  # nothing lost: HR can send it by hand


async def test_invalid_card_is_permanent(frt, standin):
    standin.fail("create", status=400, code=230099, msg="Failed to create card content")
    row = await queue(frt, "ou_c", Outgoing(text="x", kind="card"), "m:card")
    await drain(frt)
    row = await Outbox.get(id=row.id)
    assert (row.status, row.last_error.split(":")[0]) == ("failed", "230099")


async def test_hr_group_without_chat_id_is_not_reachable(standin, settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(feishu=feishu_config(standin, hr_chat_id="")))
    assert "feishu" not in rt.hr_platforms
    with pytest.raises(PermanentError):
        await rt.channels["feishu"].send(Recipient("hr_group", "hr_group"), Outgoing(text="x"), "k")


# -- media -----------------------------------------------------------------------------------


async def test_worker_downloads_image_and_file_from_the_stand_in(frt, standin):
    photo = b"\xff\xd8\xff\xe0" + b"jpeg" * 500
    pdf = b"%PDF-1.4\n" + b"0" * 2000
    standin.add_resource("om_img", "img_v2_a", Resource(photo, "image", "", "image/jpeg"))
    standin.add_resource(
        "om_pdf", "file_v2_b", Resource(pdf, "file", "毕业证书.pdf", "application/pdf")
    )
    sender = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN, encrypt_key=EKEY)
    image = sender.message(
        open_id="ou_c", message_type="image", content={"image_key": "img_v2_a"}, message_id="om_img"
    )
    file = sender.message(
        open_id="ou_c",
        message_type="file",
        content={"file_key": "file_v2_b", "file_name": "毕业证书.pdf"},
        message_id="om_pdf",
    )
    async with TestClient(TestServer(build_app(frt))) as client:
        for payload in (image, file):
            assert (await post(client, sender, payload)).status == 200
    await drain(frt)
    # Sorted: the two messages' jobs run side by side and download before the
    # conversation's lock, so either may fetch first.
    fetched = sorted(
        (c.path, c.query["type"], c.answer_code) for c in standin.calls_to("resource")
    )
    assert fetched == [
        ("/open-apis/im/v1/messages/om_img/resources/img_v2_a", "image", 0),
        ("/open-apis/im/v1/messages/om_pdf/resources/file_v2_b", "file", 0),
    ]
    assert {e.status for e in await InboundEvent.filter(platform="feishu")} == {"done"}
    # What the worker handed the flows: the bytes, type and file name.
    channel = frt.channels["feishu"]
    stored = [e.payload for e in await InboundEvent.filter(platform="feishu").order_by("id")]
    got_photo = await channel.download(MediaRef.model_validate(stored[0]["media"][0]))
    got_pdf = await channel.download(MediaRef.model_validate(stored[1]["media"][0]))
    assert (got_photo.data, got_photo.content_type) == (photo, "image/jpeg")
    assert (got_pdf.data, got_pdf.filename, got_pdf.content_type) == (
        pdf,
        "毕业证书.pdf",
        "application/pdf",
    )


async def test_download_errors_and_size_limit(frt, standin):
    channel: FeishuChannel = frt.channels["feishu"]
    standin.add_resource("om_1", "file_1", Resource(b"x" * 5000, "file", "a.pdf"))
    with pytest.raises(PermanentError) as missing:
        await channel.download(MediaRef(kind="file", key="nope", message_id="om_1"))
    assert missing.value.code == 234003
    too_big = await channel.api.download(
        "/open-apis/im/v1/messages/om_1/resources/file_1", {"type": "file"}, limit=4096
    )
    assert len(too_big.data) == 4097  # reading stopped one byte past the limit
    standin.revoke_tokens()  # the token also refreshes on downloads
    got = await channel.download(MediaRef(kind="file", key="file_1", message_id="om_1"))
    assert got.data == b"x" * 5000


# -- identity --------------------------------------------------------------------------------


async def test_find_user_by_mobile_or_email(frt, standin):
    channel = frt.channels["feishu"]
    standin.users = {"13800138000": "ou_zhang", "li@example.com": "ou_li"}
    assert await channel.find_user("+86 138-0013-8000", None) == "ou_zhang"
    assert await channel.find_user(None, "li@example.com") == "ou_li"
    assert await channel.find_user("13900000000", "nobody@example.com") is None
    assert await channel.find_user(None, None) is None
    assert len(standin.calls_to("batch_get_id")) == 3  # no call without anything to look up
    assert standin.calls_to("batch_get_id")[0].body["mobiles"] == ["13800138000"]
    standin.fail("batch_get_id", status=400, code=99991672, msg="no permission")
    assert await channel.find_user("13800138000", None) is None  # → invite instead
    assert await channel.invite_link("123456") is None
