"""微信客服 (kf): a callback announces messages, the worker pulls them with kf/sync_msg
(cursor, has_more), stores each once, and answers within WeCom's 48 h / 5 message rule."""

import itertools
from datetime import timedelta

import pytest

from bot.channels.base import Outgoing
from bot.storage.models import Conversation, InboundEvent, KeyValue, Outbox
from tests.helpers import drain
from tests.standins.wecom import (
    BAD_ARGUMENT,
    OPEN_KFID,
    kf_enter_session,
    kf_event_xml,
    kf_media,
    kf_text,
    wecom_env,
)

_tokens = itertools.count(1)


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def announce(env) -> str:
    """WeCom's kf_msg_or_event callback (fresh token), then the worker until idle."""
    token = f"ENC-kf-token-{next(_tokens)}"
    resp = await env.callback(kf_event_xml(token))
    assert resp.status == 200
    await drain(env.rt)
    return token


async def kf_rows() -> list[InboundEvent]:
    return await InboundEvent.filter(platform="wecom", event_id__startswith="kf:").order_by("id")


async def cursor() -> str:
    row = await KeyValue.get_or_none(key=f"wecom:kf_cursor:{OPEN_KFID}")
    return row.value["cursor"] if row else ""


async def test_messages_are_pulled_by_the_worker_and_stored_once(env):
    pdf = b"%PDF-1.4\n%stand-in\n" + b"0" * 100
    pdf_id = env.standin.add_media(pdf, "毕业证.pdf", "application/pdf")
    png_id = env.standin.add_media(b"\x89PNG\r\n\x1a\n" + b"0" * 50, "a.png", "image/png")
    env.standin.queue_kf(
        kf_text("wmA", "你好", "m1"),
        kf_media("wmA", "file", pdf_id, "m2"),
        kf_media("wmA", "image", png_id, "m3"),
    )
    token = await announce(env)

    (sync,) = env.standin.calls_to("kf/sync_msg")
    assert sync.body == {"open_kfid": OPEN_KFID, "limit": 1000, "token": token}
    rows = await kf_rows()
    assert [r.event_id for r in rows] == ["kf:m1", "kf:m2", "kf:m3"]
    assert {r.payload["sender_id"] for r in rows} == {"kf:wmA"}
    assert [r.kind for r in rows] == ["text", "file", "image"]
    assert rows[1].payload["media"][0]["key"] == pdf_id
    assert {r.status for r in rows} == {"done"}  # each went through the router
    # Media is fetched by the worker right away (ids die after 3 days).
    fetched = [c.query["media_id"] for c in env.standin.calls_to("media/get")]
    assert sorted(fetched) == sorted([pdf_id, png_id])
    assert await cursor() == "3"
    # The fallback answered on kf, inside the window.
    assert {b["touser"] for b in env.standin.delivered("kf/send_msg")} == {"wmA"}

    env.standin.queue_kf(kf_text("wmA", "还有一个问题", "m4"))
    await announce(env)
    assert env.standin.calls_to("kf/sync_msg")[-1].body["cursor"] == "3"
    assert [r.event_id for r in await kf_rows()] == ["kf:m1", "kf:m2", "kf:m3", "kf:m4"]


async def test_sync_pages_while_has_more(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime, standin={"kf_page_size": 2}) as e:
        e.standin.queue_kf(*(kf_text("wmP", f"第{i}条", f"p{i}") for i in range(5)))
        await announce(e)
        cursors = [c.body.get("cursor", "") for c in e.standin.calls_to("kf/sync_msg")]
        assert cursors == ["", "2", "4"]
        assert len(await kf_rows()) == 5
        assert await cursor() == "5"


async def test_a_lost_cursor_or_a_repeated_event_never_duplicates(env):
    env.standin.queue_kf(kf_text("wmD", "一", "d1"), kf_text("wmD", "二", "d2"))
    query, body = env.signer.post(kf_event_xml("ENC-same"))
    for _ in range(2):  # WeCom retried the callback
        assert (await env.client.post("/wecom/callback", params=query, data=body)).status == 200
    await drain(env.rt)
    assert len(env.standin.calls_to("kf/sync_msg")) == 1
    await KeyValue.filter(key=f"wecom:kf_cursor:{OPEN_KFID}").delete()
    await announce(env)  # re-reads everything from the start
    assert [r.event_id for r in await kf_rows()] == ["kf:d1", "kf:d2"]


async def test_an_expired_event_token_is_retried_without_it(env):
    env.standin.queue_kf(kf_text("wmT", "迟到的消息", "t1"))
    env.standin.fail("kf/sync_msg", BAD_ARGUMENT)
    await announce(env)
    first, second = env.standin.calls_to("kf/sync_msg")
    assert "token" in first.body
    assert "token" not in second.body
    assert [r.event_id for r in await kf_rows()] == ["kf:t1"]


async def test_a_busy_sync_is_retried_by_the_worker(env):
    env.standin.queue_kf(kf_text("wmB", "在吗", "b1"))
    env.standin.fail("kf/sync_msg", -1)
    await announce(env)
    assert [c.answer for c in env.standin.calls_to("kf/sync_msg")] == [-1, 0]
    event = await InboundEvent.get(event_id__startswith="evt:kfsync:")
    assert (event.status, event.attempts) == ("done", 2)
    assert [r.event_id for r in await kf_rows()] == ["kf:b1"]


async def test_servicer_messages_and_other_events_are_not_inbound(env):
    servicer = {**kf_text("wmS", "我是客服", "s1"), "origin": 5}
    status = {
        "msgid": "s2",
        "msgtype": "event",
        "origin": 4,
        "event": {"event_type": "session_status_change", "external_userid": "wmS"},
    }
    env.standin.queue_kf(servicer, status, kf_text("wmS", "你好", "s3"))
    await announce(env)
    assert [r.event_id for r in await kf_rows()] == ["kf:s3"]
    assert await cursor() == "3"


async def test_a_menu_click_arrives_as_its_command(env):
    env.standin.queue_kf(kf_text("wmM", "接受", "c1", menu_id="1"))
    await announce(env)
    (row,) = await kf_rows()
    assert row.payload["text"] == "1"


async def test_enter_session_carries_scene_param_and_the_welcome_goes_first(env):
    env.standin.queue_kf(kf_enter_session("wmE", "e1", scene_param="482913", welcome_code="WC1"))
    await announce(env)
    (row,) = await kf_rows()
    assert row.kind == "event"
    assert row.payload["sender_id"] == "kf:wmE"
    assert row.payload["event"] == {
        "event": "enter_session",
        "scene": "offer",
        "scene_param": "482913",
        "welcome_code": "WC1",
    }
    # The customer has not written yet: the first message must use the welcome code.
    fx = env.rt.fx()
    await fx.to_user("wecom", "kf:wmE", Outgoing(text="欢迎！"), "w1")
    await fx.to_user("wecom", "kf:wmE", Outgoing(text="第二条"), "w2")
    await fx.flush()
    await drain(env.rt)
    (welcome,) = env.standin.delivered("kf/send_msg_on_event")
    assert welcome["code"] == "WC1"
    assert welcome["text"] == {"content": "欢迎！"}
    assert [b["text"]["content"] for b in env.standin.delivered("kf/send_msg")] == ["第二条"]


async def test_send_welcome(env):
    env.standin.queue_kf(kf_enter_session("wmW", "e2", scene_param="", welcome_code="WC2"))
    await env.channel.send_welcome("WC2", "您好，这里是示例科技 HR")
    (body,) = env.standin.delivered("kf/send_msg_on_event")
    assert body == {
        "code": "WC2",
        "msgtype": "text",
        "text": {"content": "您好，这里是示例科技 HR"},
    }


# -- the 48 h / 5 messages rule -------------------------------------------------------------


async def queue_many(rt, address: str, count: int, prefix: str) -> list[int]:
    fx = rt.fx()
    ids = []
    for i in range(count):
        row = await fx.to_user("wecom", address, Outgoing(text=f"{prefix} {i}"), f"{prefix}:{i}")
        ids.append(row.id)
    await fx.flush()
    return ids


async def test_at_most_five_messages_after_the_customers_last(env):
    env.standin.queue_kf(kf_text("wmF", "你好", "f1"))
    await announce(env)  # the fallback answered: one of five used
    ids = []
    for i in range(6):
        ids += await queue_many(env.rt, "kf:wmF", 1, f"budget{i}")
        await drain(env.rt)
    rows = await Outbox.filter(id__in=ids).order_by("id")
    assert [r.status for r in rows] == ["sent"] * 4 + ["held"] * 2
    assert {r.last_error for r in rows if r.status == "held"} == {"budget_spent"}
    assert len(env.standin.delivered("kf/send_msg")) == 5
    # The customer writes again: the budget starts over.
    env.standin.queue_kf(kf_text("wmF", "收到", "f2"))
    await announce(env)
    assert len(env.standin.delivered("kf/send_msg")) == 6


async def test_nothing_is_sent_after_the_window_closed(env):
    env.standin.queue_kf(kf_text("wmG", "你好", "g1"))
    await announce(env)
    sent_before = len(env.standin.delivered("kf/send_msg"))
    await Conversation.filter(platform="wecom", user_id="kf:wmG").update(
        last_inbound_at=env.rt.clock() - timedelta(hours=49)
    )
    (pk,) = await queue_many(env.rt, "kf:wmG", 1, "late")
    await drain(env.rt)
    row = await Outbox.get(id=pk)
    assert (row.status, row.last_error) == ("held", "window_closed")
    assert row.payload["text"] == "late 0"  # kept: HR is told what to send by hand
    assert len(env.standin.delivered("kf/send_msg")) == sent_before
