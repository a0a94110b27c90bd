"""POST /feishu/events: verification, parsing, idempotent storage, card-click answers.

Callbacks are encrypted and signed exactly as Feishu does (tests/standins/feishu.py).
"""

import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import Action, Outgoing, Recipient
from bot.storage.models import InboundEvent
from tests.standins.feishu import EKEY, VTOKEN, FeishuSender, feishu_config


async def post(client, sender: FeishuSender, payload, **kw):
    body, headers = sender.request(payload, **kw)
    return await client.post("/feishu/events", data=body, headers=headers)


async def stored() -> list[dict]:
    return [row.payload for row in await InboundEvent.filter(platform="feishu").order_by("id")]


# -- URL verification ---------------------------------------------------------------------


async def test_url_verification_plain(standin, settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(feishu=feishu_config(standin, encrypt_key="")))
    plain = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN)
    async with TestClient(TestServer(build_app(rt))) as client:
        resp = await post(client, plain, plain.url_verification("ajls384kdjx98XX"))
        assert resp.status == 200
        assert await resp.json() == {"challenge": "ajls384kdjx98XX"}
        resp = await post(client, plain, plain.url_verification("x", token="wrong"))
        assert resp.status == 403
        assert "challenge" not in await resp.json()


async def test_url_verification_encrypted_with_the_documented_vector(
    standin, settings_factory, make_runtime
):
    """The encrypted challenge from feishu.md (key "test key", token "vtoken"), unsigned
    as Feishu sends it, is answered in plain JSON."""
    from tests.test_feishu_crypto import CHALLENGE_ENCRYPT

    cfg = feishu_config(standin, encrypt_key="test key", verification_token="vtoken")
    rt = await make_runtime(settings_factory(feishu=cfg))
    async with TestClient(TestServer(build_app(rt))) as client:
        resp = await client.post("/feishu/events", json={"encrypt": CHALLENGE_ENCRYPT})
        assert resp.status == 200
        assert await resp.json() == {"challenge": "ajls384kdjx98XX"}


async def test_endpoint_is_off_when_feishu_is_disabled(client):
    sender = FeishuSender(app_id="cli_x", verification_token=VTOKEN)
    resp = await post(client, sender, sender.url_verification("abc"))
    assert resp.status == 404


# -- messages -----------------------------------------------------------------------------


async def test_text_message_is_stored_once_and_enqueued(fclient, frt, sender):
    payload = sender.message(open_id="ou_cand1", text="我接受这个 offer", message_id="om_1")
    resp = await post(fclient, sender, payload)
    assert resp.status == 200
    assert await resp.json() == {"msg": "success"}
    [inbound] = await stored()
    assert inbound["event_id"] == "om_1"
    assert inbound["sender_id"] == "ou_cand1"
    assert inbound["chat_type"] == "p2p"
    assert inbound["kind"] == "text"
    assert inbound["text"] == "我接受这个 offer"
    row = await InboundEvent.get(platform="feishu", event_id="om_1")
    assert await frt.redis.exists(f"arq:job:inbound:{row.id}")


async def test_duplicate_event_id_is_stored_once(fclient, sender):
    payload = sender.message(open_id="ou_cand1", text="1", event_id="ev-dup")
    for _ in range(3):
        resp = await post(fclient, sender, payload)
        assert resp.status == 200
    assert len(await stored()) == 1


async def test_same_message_under_a_new_event_id_is_stored_once(fclient, sender):
    first = sender.message(open_id="ou_cand1", text="2", message_id="om_same", event_id="ev-a")
    again = sender.message(open_id="ou_cand1", text="2", message_id="om_same", event_id="ev-b")
    assert (await post(fclient, sender, first)).status == 200
    assert (await post(fclient, sender, again)).status == 200
    assert [p["event_id"] for p in await stored()] == ["om_same"]


async def test_hr_command_in_group_after_mention(fclient, sender):
    payload = sender.message(
        open_id="ou_hr1",
        text="@_user_1 /note @_user_2 面试反馈很好",
        chat_type="group",
        chat_id="oc_hr",
        message_id="om_cmd",
        mentions=[
            sender.bot_mention("@_user_1"),
            {
                "key": "@_user_2",
                "id": {"open_id": "ou_zs"},
                "mentioned_type": "user",
                "name": "张三",
            },
        ],
    )
    assert (await post(fclient, sender, payload)).status == 200
    [inbound] = await stored()
    assert inbound["text"] == "/note @张三 面试反馈很好"
    assert inbound["mentioned_bot"] is True
    assert inbound["chat_type"] == "group"
    assert inbound["chat_id"] == "oc_hr"
    assert inbound["sender_id"] == "ou_hr1"


async def test_group_chatter_without_the_bot_is_not_stored(fclient, sender):
    payload = sender.message(
        open_id="ou_hr1",
        text="@_user_1 下午开会",
        chat_type="group",
        chat_id="oc_hr",
        mentions=[{"key": "@_user_1", "id": {"open_id": "ou_x"}, "mentioned_type": "user"}],
    )
    resp = await post(fclient, sender, payload)
    assert resp.status == 200
    assert await stored() == []


async def test_image_file_and_post_messages_carry_media(fclient, sender):
    image = sender.message(
        open_id="ou_c", message_type="image", content={"image_key": "img_v2_1"}, message_id="om_i"
    )
    file = sender.message(
        open_id="ou_c",
        message_type="file",
        content={"file_key": "file_v2_1", "file_name": "学位证.pdf"},
        message_id="om_f",
    )
    rich = sender.message(
        open_id="ou_c",
        message_type="post",
        content={
            "zh_cn": {
                "title": "材料",
                "content": [
                    [{"tag": "text", "text": "这是身份证正面"}],
                    [{"tag": "img", "image_key": "img_v2_2"}],
                ],
            }
        },
        message_id="om_p",
    )
    sticker = sender.message(
        open_id="ou_c", message_type="sticker", content={"file_key": "s1"}, message_id="om_s"
    )
    for payload in (image, file, rich, sticker):
        assert (await post(fclient, sender, payload)).status == 200
    by_id = {p["event_id"]: p for p in await stored()}
    assert by_id["om_i"]["kind"] == "image"
    assert by_id["om_i"]["media"] == [
        {"kind": "image", "key": "img_v2_1", "message_id": "om_i", "filename": "", "size": None}
    ]
    assert by_id["om_f"]["kind"] == "file"
    assert by_id["om_f"]["media"][0]["filename"] == "学位证.pdf"
    assert by_id["om_p"]["kind"] == "image"
    assert by_id["om_p"]["text"] == "材料\n这是身份证正面"
    assert by_id["om_p"]["media"][0]["key"] == "img_v2_2"
    assert by_id["om_s"]["kind"] == "event"
    assert by_id["om_s"]["event"] == {"event": "unsupported_message", "message_type": "sticker"}


async def test_messages_from_apps_and_other_events_are_acknowledged_not_stored(fclient, sender):
    from_app = sender.message(open_id="ou_app", text="hi")
    from_app["event"]["sender"]["sender_type"] = "app"
    read = sender.message(open_id="ou_c", text="x")
    read["header"]["event_type"] = "im.message.message_read_v1"
    for payload in (from_app, read):
        resp = await post(fclient, sender, payload)
        assert resp.status == 200
    assert await stored() == []


# -- refusals -------------------------------------------------------------------------------


async def test_bad_signature_is_refused_and_nothing_stored(fclient, sender):
    body, headers = sender.request(sender.message(open_id="ou_c", text="1"))
    forged = {**headers, "X-Lark-Signature": "0" * 64}
    assert (await fclient.post("/feishu/events", data=body, headers=forged)).status == 401
    # Valid signature, but the body changed after signing.
    tampered = body.replace(b'"}', b'" }')
    assert (await fclient.post("/feishu/events", data=tampered, headers=headers)).status in (
        400,
        401,
    )
    # No signature at all on an event (only URL verification may come unsigned).
    unsigned = {"Content-Type": "application/json"}
    assert (await fclient.post("/feishu/events", data=body, headers=unsigned)).status == 401
    weird = {**headers, "X-Lark-Signature": "é" * 64}
    assert (await fclient.post("/feishu/events", data=body, headers=weird)).status == 401
    assert await stored() == []


async def test_wrong_verification_token_is_refused(fclient, standin):
    impostor = FeishuSender(app_id=standin.app_id, verification_token="guess", encrypt_key=EKEY)
    resp = await post(fclient, impostor, impostor.message(open_id="ou_c", text="1"))
    assert resp.status == 403
    payload = impostor.message(open_id="ou_c", text="1")
    del payload["header"]["token"]
    assert (await post(fclient, impostor, payload)).status == 403
    assert await stored() == []


async def test_replayed_old_request_is_refused(fclient, sender):
    old = time.time() - 13 * 3600
    payload = sender.message(open_id="ou_c", text="1", create_time=old)
    resp = await post(fclient, sender, payload, timestamp=old)  # correctly signed, but old
    assert resp.status == 403
    # Feishu's own retry window is ~7.1 h: a retry 7 h later still counts.
    recent = time.time() - 7 * 3600
    payload = sender.message(open_id="ou_c", text="1", create_time=recent)
    assert (await post(fclient, sender, payload, timestamp=recent)).status == 200
    assert len(await stored()) == 1


async def test_replay_check_without_encryption_uses_the_event_time(
    standin, settings_factory, make_runtime
):
    rt = await make_runtime(settings_factory(feishu=feishu_config(standin, encrypt_key="")))
    plain = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN)
    async with TestClient(TestServer(build_app(rt))) as client:
        old = plain.message(open_id="ou_c", text="1", create_time=time.time() - 13 * 3600)
        assert (await post(client, plain, old)).status == 403
        undated = plain.message(open_id="ou_c", text="1")
        undated["header"]["create_time"] = "yesterday"
        assert (await post(client, plain, undated)).status == 400
        fresh = plain.message(open_id="ou_c", text="1")
        assert (await post(client, plain, fresh)).status == 200
        # An encrypted body when no encrypt key is configured cannot be read.
        keyed = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN, encrypt_key="k")
        assert (await post(client, keyed, fresh, signed=False)).status == 400
    assert len(await stored()) == 1


HOSTILE_BODIES = [
    b"{not json",
    b"[]",
    b'"just a string"',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to break a naive parser
    b'{"a": ' + b"9" * 5000 + b"}",  # an integer too long to convert
    b'{"encrypt": 12}',
    b'{"encrypt": "not base64!!"}',
    b"",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
async def test_malformed_bodies_get_4xx_never_500(fclient, sender, body):
    signed_body, headers = sender.request(body, encrypted=False)
    resp = await fclient.post("/feishu/events", data=signed_body, headers=headers)
    assert 400 <= resp.status < 500
    assert await stored() == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.pop("event"),
        lambda p: p["event"].__setitem__("message", "not an object"),
        lambda p: p["event"]["message"].__setitem__("content", "{broken"),
        lambda p: p["event"]["message"].__setitem__("content", "[1, 2]"),
        lambda p: p["event"]["message"].pop("message_id"),
        lambda p: p["event"]["sender"]["sender_id"].__setitem__("open_id", 42),
        lambda p: p.__setitem__("header", ["not", "an", "object"]),
        lambda p: p["event"]["message"].__setitem__("message_type", None),
    ],
    ids=range(8),
)
async def test_malformed_events_are_refused(fclient, sender, mangle):
    payload = sender.message(open_id="ou_c", text="1")
    mangle(payload)
    resp = await post(fclient, sender, payload)
    assert 400 <= resp.status < 500
    assert await stored() == []


async def test_oversized_body_is_413(fclient, sender):
    payload = sender.message(open_id="ou_c", text="x" * (1024 * 1024 + 10))
    resp = await post(fclient, sender, payload, encrypted=False)
    assert resp.status == 413
    assert await stored() == []


# -- card clicks ----------------------------------------------------------------------------


async def send_offer_card(frt, standin) -> dict:
    """Send a real offer card through the channel and return what Feishu received."""
    message = Outgoing(
        title="Offer 待确认",
        text="张三您好：后端工程师 offer，月薪 30000 元。\n回复 1 接受，2 拒绝，3 有疑问",
        kind="card",
        actions=(
            Action(
                key="accept", label="接受", command="1", value={"offer_id": 42}, style="primary"
            ),
            Action(
                key="decline",
                label="拒绝",
                command="2",
                value={"offer_id": 42},
                style="danger",
                confirm="确定要拒绝这个 offer 吗？",
            ),
            Action(key="question", label="我有疑问", command="3", value={"offer_id": 42}),
        ),
    )
    await frt.channels["feishu"].send(Recipient("user", "ou_cand1"), message, "offer:42:card")
    return standin.messages[-1]


def buttons(card: dict) -> list[dict]:
    return [
        col["elements"][0]
        for el in card["body"]["elements"]
        if el["tag"] == "column_set"
        for col in el["columns"]
    ]


async def test_card_click_answers_with_toast_and_decided_card_and_stores_once(
    fclient, frt, standin, sender
):
    sent = await send_offer_card(frt, standin)
    card = sent["content"]
    accept, decline, question = buttons(card)
    assert decline["confirm"]["text"]["content"] == "确定要拒绝这个 offer 吗？"
    value = accept["behaviors"][0]["value"]
    click = sender.click(open_id="ou_cand1", value=value, message_id=sent["message_id"])
    for _ in range(2):  # the same callback twice: answered twice, stored once
        resp = await post(fclient, sender, click)
        assert resp.status == 200
        answer = await resp.json()
        assert answer["toast"] == {"type": "success", "content": "已收到：接受"}
        decided = answer["card"]["data"]
        assert answer["card"]["type"] == "raw"
        assert buttons(decided) == []  # nothing left to click twice
        text = "\n".join(
            e["content"] for e in decided["body"]["elements"] if e["tag"] == "markdown"
        )
        assert "月薪 30000 元" in text and "已选择：接受" in text
        assert decided["header"]["title"]["content"] == "Offer 待确认"
    [inbound] = await stored()
    assert inbound["kind"] == "action"
    assert inbound["action"] == {"action": "accept", "offer_id": 42}
    assert inbound["sender_id"] == "ou_cand1"
    assert inbound["chat_type"] == "p2p"
    assert inbound["extra"]["message_id"] == sent["message_id"]
    # The card shown after the click is one Feishu accepts (same checks as a send).
    from tests.standins.feishu import card_problem

    assert card_problem(decided) is None


async def test_question_click_keeps_accept_and_decline(fclient, frt, standin, sender):
    sent = await send_offer_card(frt, standin)
    question = buttons(sent["content"])[2]
    click = sender.click(
        open_id="ou_cand1", value=question["behaviors"][0]["value"], message_id=sent["message_id"]
    )
    answer = await (await post(fclient, sender, click)).json()
    remaining = buttons(answer["card"]["data"])
    assert [b["text"]["content"] for b in remaining] == ["接受", "拒绝"]
    assert remaining[1]["confirm"]["text"]["content"] == "确定要拒绝这个 offer 吗？"


async def test_hr_claim_click_in_group_keeps_resolve(fclient, frt, standin, sender):
    alert = Outgoing(
        title="候选人犹豫 #7",
        text="张三（138****8000）：<at id=all></at> 薪资能否再谈？",
        actions=(
            Action(key="claim", label="认领", command="/claim 7", value={"alert_id": 7}),
            Action(key="resolve", label="已解决", command="/resolve 7", value={"alert_id": 7}),
        ),
    )
    await frt.channels["feishu"].send(Recipient("hr_group", "hr_group"), alert, "alert:7")
    sent = standin.messages[-1]
    assert (sent["receive_id_type"], sent["receive_id"]) == ("chat_id", "oc_hr")
    body_md = sent["content"]["body"]["elements"][0]["content"]
    assert "<at" not in body_md  # candidate words cannot @everyone in the HR group
    claim = buttons(sent["content"])[0]
    click = sender.click(
        open_id="ou_hr1",
        value=claim["behaviors"][0]["value"],
        message_id=sent["message_id"],
        chat_id="oc_hr",
    )
    answer = await (await post(fclient, sender, click)).json()
    [resolve] = buttons(answer["card"]["data"])
    assert resolve["behaviors"][0]["value"]["action"] == "resolve"
    [inbound] = await stored()
    assert inbound["action"] == {"action": "claim", "alert_id": 7}
    assert (inbound["chat_type"], inbound["chat_id"]) == ("group", "oc_hr")
    # A second step: resolve from the replaced card.
    click2 = sender.click(
        open_id="ou_hr1",
        value=resolve["behaviors"][0]["value"],
        message_id=sent["message_id"],
        chat_id="oc_hr",
    )
    answer2 = await (await post(fclient, sender, click2)).json()
    assert buttons(answer2["card"]["data"]) == []
    assert [p["action"]["action"] for p in await stored()] == ["claim", "resolve"]


async def test_click_on_a_foreign_card_still_gets_a_toast(fclient, sender):
    click = sender.click(open_id="ou_c", value={"action": "accept"}, message_id="om_old")
    resp = await post(fclient, sender, click)
    assert resp.status == 200
    answer = await resp.json()
    assert "toast" in answer and "card" not in answer
    assert json.dumps(answer)  # plain JSON
    assert len(await stored()) == 1
