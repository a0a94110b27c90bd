"""Bad platform input refused at the door, never a 500, never stored to fail later
(docs/hardening.md): WeCom XML nested deep or with too many elements (signed or not),
Feishu times that are not times (1e300, NaN, inf, negative, huge), and platform ids
longer than the columns they would be stored in."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.storage.models import InboundEvent
from tests.offer_steps import make_offer
from tests.standins.feishu import FeishuSender, FeishuStandin, sign
from tests.standins.wecom import CORP_ID, text_xml, wecom_env

VTOKEN = "door-vtoken"
EKEY = "door-encrypt-key"


def deep(depth: int, tag: str = "a") -> str:
    return f"<{tag}>" * depth + "x" + f"</{tag}>" * depth


def signed_inner(depth: int) -> str:
    """A text message whose Content element holds `depth` nested elements."""
    return text_xml("zhangsan", "hi").replace("<Content><![CDATA[hi]]></Content>",
                                             f"<Content>{deep(depth)}</Content>")  # fmt: skip


@pytest.fixture
async def wecom(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as env:
        yield env


async def post_wecom(env, query, body: bytes):
    resp = await env.client.post("/wecom/callback", params=query, data=body,
                                 headers={"Content-Type": "text/xml"})  # fmt: skip
    return resp.status, await resp.text()


@pytest.mark.parametrize("depth", [1000, 50_000])
async def test_deep_wecom_xml_is_a_400_signed_or_not(wecom, depth):
    query, _ = wecom.signer.post(text_xml("zhangsan", "hi"))
    # Unsigned: the outer envelope itself nested deep.
    status, text = await post_wecom(wecom, query, deep(depth, "xml").encode())
    assert status == 400, text
    # The Encrypt element buried deep inside an envelope.
    body = f"<xml>{deep(depth)}<Encrypt>x</Encrypt></xml>".encode()
    assert (await post_wecom(wecom, query, body))[0] == 400
    # Signed and encrypted: the decrypted message is the deep one.
    query, body = wecom.signer.post(signed_inner(depth))
    status, text = await post_wecom(wecom, query, body)
    assert status == 400, text
    # Wide instead of deep.
    query, body = wecom.signer.post(text_xml("zhangsan", "hi").replace(
        "<MsgType>", "<Junk/>" * 5000 + "<MsgType>"))  # fmt: skip
    assert (await post_wecom(wecom, query, body))[0] == 400
    assert await InboundEvent.all().count() == 0
    # Real messages (a few levels) still pass.
    query, body = wecom.signer.post(signed_inner(3))
    assert (await post_wecom(wecom, query, body))[0] == 200


@pytest.fixture
async def feishu(settings_factory, make_runtime):
    async with FeishuStandin() as standin:
        config = {"enabled": True, "app_id": standin.app_id, "app_secret": standin.app_secret,
                  "verification_token": VTOKEN, "encrypt_key": EKEY,
                  "api_base_url": standin.url, "hr_chat_id": "oc_hr"}  # fmt: skip
        rt = await make_runtime(settings_factory(feishu=config))
        sender = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN, encrypt_key=EKEY)
        async with TestClient(TestServer(build_app(rt))) as client:
            yield client, sender


BAD_TIMES = ["1e300", "nan", "NaN", "inf", "-inf", "-5", "9" * 400, "1" * 30, "", "0x10"]


@pytest.mark.parametrize("when", BAD_TIMES + [1e300, -1, True, None, [1]],
                         ids=lambda v: repr(v)[:12])  # fmt: skip
async def test_feishu_times_that_are_not_times_never_give_500(feishu, when):
    client, sender = feishu
    payload = sender.message(open_id="ou_time", text="hi")
    payload["event"]["message"]["create_time"] = when
    payload["header"]["create_time"] = when
    body, headers = sender.request(payload)
    resp = await client.post("/feishu/events", data=body, headers=headers)
    # The request's own signed timestamp is fine: the message is taken, its time unknown.
    assert resp.status == 200, await resp.text()
    rows = await InboundEvent.all()
    assert len(rows) == 1
    assert rows[0].payload.get("at") is None


@pytest.mark.parametrize("stamp", ["nan", "inf", "-inf", "1e300", "-1", "NaN", "9" * 50])
async def test_a_signed_request_timestamp_that_is_not_a_time_fails_the_age_check(feishu, stamp):
    client, sender = feishu
    body, headers = sender.request(sender.message(open_id="ou_age", text="hi"))
    nonce = uuid.uuid4().hex[:12]
    headers.update({"X-Lark-Request-Timestamp": stamp, "X-Lark-Request-Nonce": nonce,
                    "X-Lark-Signature": sign(stamp, nonce, EKEY, body)})  # fmt: skip
    resp = await client.post("/feishu/events", data=body, headers=headers)
    assert resp.status in (400, 403), await resp.text()
    assert await InboundEvent.all().count() == 0


async def test_unsigned_header_time_that_is_not_a_time_is_refused(settings_factory,
                                                                  make_runtime):  # fmt: skip
    # Without an encrypt key there is no signature: header.create_time is the age.
    async with FeishuStandin() as standin:
        config = {"enabled": True, "app_id": standin.app_id, "app_secret": "s",
                  "verification_token": VTOKEN, "api_base_url": standin.url}  # fmt: skip
        rt = await make_runtime(settings_factory(feishu=config))
        sender = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN, encrypt_key="")
        async with TestClient(TestServer(build_app(rt))) as client:
            for when in ("nan", "inf", "1e300", "-1"):
                payload = sender.message(open_id="ou_x", text="hi")
                payload["header"]["create_time"] = when
                body, headers = sender.request(payload)
                resp = await client.post("/feishu/events", data=body, headers=headers)
                assert resp.status in (400, 403), await resp.text()
    assert await InboundEvent.all().count() == 0


async def test_a_forged_feishu_body_is_refused_before_it_is_parsed(feishu):
    client, sender = feishu
    body = b"[" * 100_000 + b"]" * 100_000  # costly to parse, and not signed by Feishu
    ts, nonce = str(int(time.time())), "n1"
    headers = {"Content-Type": "application/json", "X-Lark-Request-Timestamp": ts,
               "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": "0" * 64}  # fmt: skip
    resp = await client.post("/feishu/events", data=body, headers=headers)
    assert resp.status == 401


# -- ids longer than the columns ----------------------------------------------------------


@pytest.mark.parametrize("length", [129, 500])
async def test_wecom_sender_ids_too_long_are_acknowledged_and_dropped(wecom, length, caplog):
    query, body = wecom.signer.post(text_xml("u" * length, "hi"))
    assert (await post_wecom(wecom, query, body))[0] == 200  # WeCom must not retry it
    assert await InboundEvent.all().count() == 0
    assert "wecom callback dropped: sender id" in caplog.text
    query, body = wecom.signer.post(text_xml("u" * 64, "hi"))  # WeCom's longest userid
    assert (await post_wecom(wecom, query, body))[0] == 200
    assert await InboundEvent.all().count() == 1


async def test_wecom_event_ids_too_long_are_dropped(wecom):
    xml = text_xml("zhangsan", "hi").replace(f"<ToUserName><![CDATA[{CORP_ID}]]>",
                                             f"<ToUserName><![CDATA[{CORP_ID}]]>")  # fmt: skip
    xml = xml.split("<MsgId>")[0] + "<MsgId>" + "9" * 300 + "</MsgId></xml>"
    query, body = wecom.signer.post(xml)
    assert (await post_wecom(wecom, query, body))[0] == 200
    assert await InboundEvent.all().count() == 0


@pytest.mark.parametrize("field", ["open_id", "message_id", "chat_id", "image_key"])
async def test_feishu_ids_too_long_are_acknowledged_and_dropped(feishu, field, caplog):
    client, sender = feishu
    long = "o" * 200
    kw: dict = {"open_id": long if field == "open_id" else "ou_ok"}
    if field == "image_key":
        kw.update(message_type="image", content={"image_key": "k" * 300})
    else:
        kw["text"] = "hi"
    payload = sender.message(**kw)
    if field == "message_id":
        payload["event"]["message"]["message_id"] = long
    if field == "chat_id":
        payload["event"]["message"]["chat_id"] = long
    body, headers = sender.request(payload)
    resp = await client.post("/feishu/events", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    assert json.loads(await resp.text()) == {"msg": "success"}
    assert await InboundEvent.all().count() == 0
    assert "feishu event dropped" in caplog.text


# -- a reply that fails for good reaches HR -----------------------------------------------


async def test_a_reply_the_worker_gives_up_on_reaches_hr(wecom):
    from datetime import date

    from bot.storage.models import Offer
    from tests.helpers import drain

    offer = await make_offer(
        wecom.client,
        requisition={"external_id": "req-f", "title": "工程师"},
        candidate={"external_id": "c-f", "name": "王五", "wecom_user_id": "wangwu"},
        salary_monthly="20000",
        channel="wecom",
    )
    await drain(wecom.rt)
    # A start date the door no longer takes, stored before it did: accepting fails for good.
    await Offer.filter(id=offer["id"]).update(start_date=date(1, 1, 2))
    query, body = wecom.signer.post(text_xml("wangwu", "1"))
    assert (await post_wecom(wecom, query, body))[0] == 200
    await drain(wecom.rt, rounds=40)
    [row] = await InboundEvent.all()
    assert row.status == "failed", row.last_error
    notices = [json.dumps(b, ensure_ascii=False) for b in wecom.standin.delivered("webhook/send")]
    assert any("wecom:wangwu" in n and "“1”" in n for n in notices), notices
