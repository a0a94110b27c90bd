"""Duplicates and races → exactly one effect (SPEC §4 "Exactly one effect").

- the same signed callback delivered 3× concurrently and 3× in a row (WeCom and Feishu;
  Feishu also re-delivers one message under a new `event_id`): one inbound row, one state
  change, one answer;
- a card button click and a text reply for the same offer arriving together: one decision;
- two workers running the same due timer at once (the job was queued twice, as after a
  sweep re-enqueued it while it ran): one state change, one message.

Everything goes through the real app (signed callbacks over HTTP), real Redis/arq workers
(two runtimes, two burst workers side by side) and the platform stand-ins.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.wecom.render import decode_button_key
from bot.queue import QUEUE_NAME
from bot.storage.models import InboundEvent, Offer, TimelineEvent, Timer
from bot.worker import build_worker
from tests.helpers import drain
from tests.standins.feishu import EKEY, VTOKEN, FeishuSender, FeishuStandin, feishu_config
from tests.standins.wecom import card_click_xml, text_xml, wecom_env
from tests.test_feishu_offer import make_offer as make_feishu_offer
from tests.test_wecom_conversation import make_offer as make_wecom_offer

USER = "lisi"


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def run_two_workers(rt_a, rt_b) -> None:
    """Two burst workers (two 'processes': two runtimes, two Redis pools) side by side."""
    workers = [build_worker(rt_a, burst=True), build_worker(rt_b, burst=True)]
    try:
        await asyncio.gather(*(w.async_run() for w in workers))
    finally:
        for w in workers:
            await w.close()


async def transitions(offer_id: int) -> Counter:
    kinds = await TimelineEvent.filter(offer_id=offer_id).values_list("kind", flat=True)
    return Counter(kinds)


def wecom_texts_to(env, user: str) -> list[str]:
    """Every app message the bot SENT the candidate (text, card), as strings — counting
    sends the stand-in suppressed by `enable_duplicate_check` too: a second processing
    would re-send the same JSON, which WeCom would hide but the bot must not do."""
    return [
        json.dumps(c.body, ensure_ascii=False, sort_keys=True)
        for c in env.standin.calls_to("message/send")
        if isinstance(c.body, dict) and c.body.get("touser") == user
    ]


def card_of(env, user: str) -> dict:
    (card,) = [
        m["template_card"]
        for m in env.standin.delivered("message/send")
        if m["touser"] == user and m["msgtype"] == "template_card"
    ]
    return card


# -- the same callback, again and again ------------------------------------------------


async def test_wecom_same_callback_3x_concurrently_and_3x_in_a_row(env, make_runtime):
    answer = await make_wecom_offer(env, wecom_user_id=USER)
    before = wecom_texts_to(env, USER)
    inbound_before = await InboundEvent.filter(platform="wecom").count()

    # One signed request, replayed byte for byte (WeCom retries with the same body).
    query, body = env.signer.post(text_xml(USER, "1"))
    statuses = await asyncio.gather(
        *(env.client.post("/wecom/callback", params=query, data=body) for _ in range(3))
    )
    assert [r.status for r in statuses] == [200, 200, 200]
    other = await make_runtime(env.rt.settings)  # a second worker process
    await run_two_workers(env.rt, other)
    for _ in range(3):  # late retries, after it was processed
        resp = await env.client.post("/wecom/callback", params=query, data=body)
        assert resp.status == 200
    await drain(env.rt)

    assert await InboundEvent.filter(platform="wecom").count() == inbound_before + 1
    offer = await Offer.get(id=answer["id"])
    assert offer.status == "accepted"
    assert (await transitions(offer.id))["offer_accepted"] == 1
    after = wecom_texts_to(env, USER)[len(before) :]
    assert after, "the candidate is answered"
    assert len(after) == len(set(after)), "no message shown twice"


async def test_feishu_same_event_3x_and_one_message_under_a_new_event_id(
    settings_factory, make_runtime
):
    async with FeishuStandin() as standin:
        rt = await make_runtime(settings_factory(feishu=feishu_config(standin)))
        sender = FeishuSender(app_id=standin.app_id, verification_token=VTOKEN, encrypt_key=EKEY)
        async with TestClient(TestServer(build_app(rt))) as client:
            offer = await make_feishu_offer(client, feishu_open_id="ou_zhang")
            await drain(rt)
            shown_before = [m for m in standin.messages if m.get("receive_id") == "ou_zhang"]

            payload = sender.message(open_id="ou_zhang", text="1", message_id="om_accept_1")
            body, headers = sender.request(payload)
            answers = await asyncio.gather(
                *(client.post("/feishu/events", data=body, headers=headers) for _ in range(3))
            )
            assert [a.status for a in answers] == [200, 200, 200]
            other = await make_runtime(rt.settings)
            await run_two_workers(rt, other)
            for _ in range(3):
                resp = await client.post("/feishu/events", data=body, headers=headers)
                assert resp.status == 200
            # Feishu re-delivers the same message under a fresh event_id (and signature).
            again = sender.message(open_id="ou_zhang", text="1", message_id="om_accept_1")
            assert again["header"]["event_id"] != payload["header"]["event_id"]
            body2, headers2 = sender.request(again)
            assert (await client.post("/feishu/events", data=body2, headers=headers2)).status == 200
            await drain(rt)

        assert await InboundEvent.filter(platform="feishu").count() == 1
        assert (await Offer.get(id=offer["id"])).status == "accepted"
        assert (await transitions(offer["id"]))["offer_accepted"] == 1
        shown = [m for m in standin.messages if m.get("receive_id") == "ou_zhang"]
        after = [json.dumps(m["content"], sort_keys=True) for m in shown[len(shown_before) :]]
        assert after and len(after) == len(set(after))
        # Counted at the requests: Feishu would hide a re-send with the same uuid.
        sent = [c.body["uuid"] for c in standin.calls if c.endpoint in ("create", "reply")]
        assert len(sent) == len(set(sent)) == len(standin.messages)


# -- a click and a text reply together --------------------------------------------------


async def test_button_click_and_text_reply_together_decide_once(env, make_runtime):
    answer = await make_wecom_offer(env, wecom_user_id=USER)
    card = card_of(env, USER)
    accept = next(
        b for b in card["button_list"] if decode_button_key(b["key"])["action"] == "accept"
    )
    before = wecom_texts_to(env, USER)

    click = card_click_xml(USER, accept["key"], card["task_id"], env.standin.click())
    reply = text_xml(USER, "我接受这个offer")
    results = await asyncio.gather(env.callback(click), env.callback(reply))
    assert [r.status for r in results] == [200, 200]
    other = await make_runtime(env.rt.settings)
    await run_two_workers(env.rt, other)  # both events in flight at once
    await drain(env.rt)

    offer = await Offer.get(id=answer["id"])
    assert offer.status == "accepted"
    moves = await transitions(offer.id)
    assert moves["offer_accepted"] == 1
    statuses = await InboundEvent.filter(platform="wecom").values_list("status", flat=True)
    assert set(statuses) == {"done"}
    after = wecom_texts_to(env, USER)[len(before) :]
    assert len(after) == len(set(after)), "the thanks is not sent twice"
    # The acceptance is announced to HR once (the robot got no duplicate post).
    robot = [json.dumps(c.body) for c in env.standin.calls_to("webhook/send")]
    assert len(robot) == len(set(robot))


# -- two workers, one due timer ----------------------------------------------------------


async def test_two_workers_running_the_same_due_timer_fire_it_once(env, make_runtime):
    answer = await make_wecom_offer(env, wecom_user_id=USER)
    expire = await Timer.get(offer_id=answer["id"], kind="offer_expire", status="pending")
    await Timer.filter(id=expire.id).update(due_at=env.rt.clock() - timedelta(seconds=1))
    before = wecom_texts_to(env, USER)

    # The job is in Redis twice under different ids — what happens when a sweep re-enqueues
    # a timer whose first job is still running (or Redis forgot it): only the database's
    # claim can keep the effect single.
    for job_id in (f"timer:{expire.id}", f"timer:{expire.id}:again"):
        await env.rt.redis.enqueue_job(
            "fire_timer", expire.id, _job_id=job_id, _queue_name=QUEUE_NAME
        )
    assert await env.rt.redis.zcard(QUEUE_NAME) == 2
    other = await make_runtime(env.rt.settings)
    await run_two_workers(env.rt, other)
    await drain(env.rt)

    timer = await Timer.get(id=expire.id)
    assert timer.status == "done"
    offer = await Offer.get(id=answer["id"])
    assert offer.status == "expired"
    assert (await transitions(offer.id))["offer_expired"] == 1
    after = wecom_texts_to(env, USER)[len(before) :]
    assert len(after) == 1, after  # the one kind closing message
