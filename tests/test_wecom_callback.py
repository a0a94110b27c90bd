"""GET, POST /wecom/callback: the published vectors, verification failures, hostile input."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.storage.models import InboundEvent
from tests.standins.wecom import (
    CORP_ID,
    CallbackSigner,
    card_click_xml,
    image_xml,
    kf_event_xml,
    text_xml,
    wecom_env,
)

# -- the published vectors (wecom.md §1.5), copied as they are ---------------------------

A = {
    "token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "corp": "ww1436e0e65a779aee",
    "get": {
        "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
        "timestamp": "1476416373",
        "nonce": "47744683",
        "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",  # noqa: E501 - the vector as published
    },
    "echo": "1288432023552776189",
    "post": {
        "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
        "timestamp": "1476422779",
        "nonce": "1597212914",
    },
    "body": "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>",  # noqa: E501 - the vector as published
}
B = {
    "token": "123456",
    "key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "corp": "wx49f0ab532d5d035a",
    "get": {
        "msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        "timestamp": "1411443780",
        "nonce": "437374425",
        "echostr": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",  # noqa: E501 - the vector as published
    },
    "echo": "5927782489442352469",
    "post": {
        "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        "timestamp": "1411525903",
        "nonce": "461056294",
    },
    "encrypt": "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=",  # noqa: E501 - the vector as published
}


def vector_settings(vector: dict) -> dict:
    return {
        "enabled": True,
        "corp_id": vector["corp"],
        "agent_id": 1,
        "secret": "unused",
        "token": vector["token"],
        "encoding_aes_key": vector["key"],
        "api_base_url": "http://127.0.0.1:9",  # never called on the callback path
    }


@pytest.fixture
async def vector_app(settings_factory, make_runtime):
    """The bot configured with one vector's app; its clock set to the vector's time."""
    clients = []

    async def make(vector: dict, at: str):
        rt = await make_runtime(settings_factory(wecom=vector_settings(vector)))
        rt.clock = lambda: datetime.fromtimestamp(int(at), UTC)
        client = TestClient(TestServer(build_app(rt)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def stored() -> list[InboundEvent]:
    return await InboundEvent.filter(platform="wecom").order_by("id")


async def test_vector_a_url_verification_echoes_the_plaintext(vector_app):
    client = await vector_app(A, A["get"]["timestamp"])
    resp = await client.get("/wecom/callback?" + urlencode(A["get"]))
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    assert await resp.read() == A["echo"].encode()  # no quotes, BOM or newline


async def test_vector_a_post_is_stored_once_and_acknowledged_empty(vector_app):
    client = await vector_app(A, A["post"]["timestamp"])
    for _ in range(2):  # WeCom retries: the second delivery is a duplicate
        resp = await client.post("/wecom/callback?" + urlencode(A["post"]), data=A["body"].encode())
        assert resp.status == 200
        assert await resp.read() == b""
    rows = await stored()
    assert len(rows) == 1
    assert rows[0].event_id == "msg:1456453720"
    assert rows[0].payload["sender_id"] == "ChenJiaShun"
    assert rows[0].payload["text"] == "你好"
    assert rows[0].payload["kind"] == "text"


async def test_vector_b_get_and_post(vector_app):
    client = await vector_app(B, B["get"]["timestamp"])
    resp = await client.get("/wecom/callback?" + urlencode(B["get"]))
    assert resp.status == 200
    assert await resp.text() == B["echo"]
    wrong_nonce = {**B["get"], "nonce": "437374424"}
    resp = await client.get("/wecom/callback?" + urlencode(wrong_nonce))
    assert resp.status == 403

    client = await vector_app(B, B["post"]["timestamp"])
    body = (
        f"<xml><ToUserName><![CDATA[{B['corp']}]]></ToUserName>"
        f"<Encrypt><![CDATA[{B['encrypt']}]]></Encrypt></xml>"
    )
    resp = await client.post("/wecom/callback?" + urlencode(B["post"]), data=body)
    assert resp.status == 200
    rows = await stored()
    assert [r.payload["sender_id"] for r in rows] == ["messense"]
    assert rows[0].payload["text"] == "test"
    assert rows[0].event_id == "msg:4363689963896700987"


async def test_unencoded_plus_in_echostr_fails_the_signature(vector_app):
    client = await vector_app(A, A["get"]["timestamp"])
    raw = "&".join(f"{k}={v}" for k, v in A["get"].items())  # '+' arrives as a space
    resp = await client.get("/wecom/callback?" + raw)
    assert resp.status == 403


async def test_the_vectors_are_stale_on_todays_clock(settings_factory, make_runtime):
    rt = await make_runtime(settings_factory(wecom=vector_settings(A)))
    async with TestClient(TestServer(build_app(rt))) as client:
        resp = await client.get("/wecom/callback?" + urlencode(A["get"]))
        assert resp.status == 403
        resp = await client.post("/wecom/callback?" + urlencode(A["post"]), data=A["body"])
        assert resp.status == 403
    assert await stored() == []


# -- verification failures -----------------------------------------------------------------


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def test_url_verification_with_our_own_signer(env):
    resp = await env.client.get("/wecom/callback", params=env.signer.url_check("echo-42"))
    assert resp.status == 200
    assert await resp.text() == "echo-42"


async def test_bad_signature_is_refused_and_nothing_stored(env):
    query, body = env.signer.post(text_xml("zhangsan", "你好"))
    query["msg_signature"] = "0" * 40
    resp = await env.client.post("/wecom/callback", params=query, data=body)
    assert resp.status == 403
    tampered_query, tampered = env.signer.post(text_xml("zhangsan", "你好"))
    tampered = tampered.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[A")
    resp = await env.client.post("/wecom/callback", params=tampered_query, data=tampered)
    assert resp.status == 403
    assert await stored() == []


async def test_message_for_another_corp_is_refused(env):
    query, body = env.signer.post(text_xml("zhangsan", "hi"), receive_id="ww_someone_else")
    resp = await env.client.post("/wecom/callback", params=query, data=body)
    assert resp.status == 403
    assert "corp" in await resp.text()
    assert await stored() == []


async def test_old_and_future_timestamps_are_refused(env):
    now = int(datetime.now(UTC).timestamp())
    for ts in (now - 13 * 3600, now + 13 * 3600):
        query, body = env.signer.post(text_xml("zhangsan", "replay"), timestamp=ts)
        resp = await env.client.post("/wecom/callback", params=query, data=body)
        assert resp.status == 403
    query, body = env.signer.post(text_xml("zhangsan", "fresh"), timestamp=now - 11 * 3600)
    assert (await env.client.post("/wecom/callback", params=query, data=body)).status == 200
    assert [r.payload["text"] for r in await stored()] == ["fresh"]


async def test_missing_or_broken_query_parameters(env):
    query, body = env.signer.post(text_xml("zhangsan", "hi"))
    for missing in ("msg_signature", "timestamp", "nonce"):
        partial = {k: v for k, v in query.items() if k != missing}
        resp = await env.client.post("/wecom/callback", params=partial, data=body)
        assert resp.status == 400
    resp = await env.client.post(
        "/wecom/callback", params={**query, "timestamp": "yesterday"}, data=body
    )
    assert resp.status == 400
    resp = await env.client.get("/wecom/callback", params={"echostr": "x"})
    assert resp.status == 400
    resp = await env.client.post(
        "/wecom/callback", params={**query, "nonce": "n" * 5000}, data=body
    )
    assert resp.status == 400
    assert await stored() == []


HOSTILE_BODIES = [
    b"",
    b"not xml at all",
    b"<xml><Encrypt>unterminated",
    b"<xml><ToUserName>x</ToUserName></xml>",  # no Encrypt
    # billion laughs
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<xml><Encrypt>&lol2;</Encrypt></xml>",
    # external entity (XXE)
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&xxe;</Encrypt></xml>",
    # a DTD alone
    b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><Encrypt>a</Encrypt></xml>',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
async def test_hostile_and_malformed_bodies_get_400(env, body):
    query, _ = env.signer.post(text_xml("zhangsan", "hi"))
    resp = await env.client.post("/wecom/callback", params=query, data=body)
    assert resp.status == 400
    assert await stored() == []


async def test_signed_garbage_that_does_not_decrypt_gets_400(env):
    from bot.channels.wecom.crypto import signature
    from tests.standins.wecom import TOKEN

    ts, nonce = str(int(datetime.now(UTC).timestamp())), "123"
    for encrypted in ("bm90IGFlcw==", "!!!not-base64!!!", "QUFBQUFBQUFBQUFBQUFBQQ=="):
        query = {"msg_signature": signature(TOKEN, ts, nonce, encrypted), "timestamp": ts}
        body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        resp = await env.client.post("/wecom/callback", params={**query, "nonce": nonce}, data=body)
        assert resp.status == 400
    assert await stored() == []


async def test_hostile_xml_inside_the_encrypted_message_gets_400(env):
    inner = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'
        "<xml><FromUserName>zhangsan</FromUserName><MsgType>text</MsgType>"
        "<Content>&e;</Content><MsgId>1</MsgId></xml>"
    )
    resp = await env.callback(inner)
    assert resp.status == 400
    assert await stored() == []


async def test_oversized_body_gets_413(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime, server={"max_body_kb": 1}) as e:
        query, _ = e.signer.post(text_xml("zhangsan", "hi"))
        body = b"<xml><Encrypt>" + b"A" * 4096 + b"</Encrypt></xml>"
        resp = await e.client.post("/wecom/callback", params=query, data=body)
        assert resp.status == 413
        resp = await e.callback(text_xml("zhangsan", "长" * 600))  # ~2.4 KB encrypted
        assert resp.status == 413
    assert await stored() == []


async def test_callback_is_404_when_wecom_is_disabled(client):
    resp = await client.get("/wecom/callback", params={"echostr": "x"})
    assert resp.status == 404
    resp = await client.post("/wecom/callback", data=b"<xml/>")
    assert resp.status == 404


async def test_malformed_encoding_aes_key_answers_503_and_shows_on_readyz(
    settings_factory, make_runtime
):
    async with wecom_env(settings_factory, make_runtime, wecom={"encoding_aes_key": "%" * 43}) as e:
        resp = await e.client.get("/wecom/callback", params=e.signer.url_check("x"))
        assert resp.status == 503
        await e.rt.problems.settled()
        await e.rt.redis.flushdb()  # Redis lost what was shared: this process still knows
        ready = await (await e.client.get("/readyz")).json()
        assert "encoding_aes_key" in ready["problems"]["wecom"]


# -- what is stored ----------------------------------------------------------------------


async def test_image_message_carries_its_media_id(env):
    resp = await env.callback(image_xml("zhangsan", "MEDIA_abc", msg_id=42))
    assert resp.status == 200
    (row,) = await stored()
    assert row.event_id == "msg:42"
    assert row.payload["kind"] == "image"
    assert row.payload["media"] == [
        {"kind": "image", "key": "MEDIA_abc", "message_id": "", "filename": "", "size": None}
    ]


async def test_card_click_becomes_an_action_with_its_response_code(env):
    key = '{"action":"accept","offer_id":7}'
    xml = card_click_xml("lisi", key, "t-1", "RC-1", create_time=1_700_000_000)
    xml_now = xml.replace("1700000000", str(int(datetime.now(UTC).timestamp())))
    for _ in range(2):  # retried delivery: stored once
        assert (await env.callback(xml_now)).status == 200
    (row,) = await stored()
    assert row.kind == "action"
    assert row.payload["action"] == {"action": "accept", "offer_id": 7}
    assert row.payload["card_ref"] == "RC-1"  # what replaces the card after the click
    assert row.payload["extra"] == {"task_id": "t-1"}
    assert row.payload["sender_id"] == "lisi"
    assert row.event_id.startswith("evt:lisi:")


async def test_a_click_on_a_key_that_is_not_ours_is_passed_on_plainly(env):
    assert (await env.callback(card_click_xml("lisi", "key111", "t", "RC"))).status == 200
    (row,) = await stored()
    assert row.payload["action"] == {"action": "key111"}


async def test_kf_event_is_stored_as_a_sync_request(env):
    xml = kf_event_xml("ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR")
    for _ in range(2):
        assert (await env.callback(xml)).status == 200
    (row,) = await stored()
    assert row.kind == "event"
    assert row.payload["event"] == {
        "event": "kf_msg_or_event",
        "token": "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR",
        "open_kfid": "wkStandinKf01",
    }
    assert row.payload["sender_id"] == "kfsync:wkStandinKf01"


async def test_events_the_bot_does_not_use_are_acknowledged_not_stored(env):
    xml = (
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>zhangsan</FromUserName>"
        f"<CreateTime>{int(datetime.now(UTC).timestamp())}</CreateTime>"
        "<MsgType>event</MsgType><Event>enter_agent</Event><AgentID>1</AgentID></xml>"
    )
    resp = await env.callback(xml)
    assert resp.status == 200
    assert await stored() == []


async def test_voice_is_stored_as_an_empty_text(env):
    xml = text_xml("zhangsan", "x").replace("<MsgType><![CDATA[text]]>", "<MsgType>voice")
    assert (await env.callback(xml)).status == 200
    (row,) = await stored()
    assert row.payload["kind"] == "text"
    assert row.payload["text"] == ""
    assert row.payload["extra"] == {"msgtype": "voice"}


async def test_signer_is_wecoms_own_algorithm():
    """Our test signer and the handler agree with the official vector's signature."""
    from bot.channels.wecom.crypto import signature

    encrypted = A["body"].split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    sig = signature(A["token"], A["post"]["timestamp"], A["post"]["nonce"], encrypted)
    assert sig == A["post"]["msg_signature"]
    assert CallbackSigner().corp_id == CORP_ID
