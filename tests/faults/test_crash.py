"""Crashes at the worst moments, with real processes killed by PID (SIGKILL: no shutdown
code runs), prove SPEC §4 "acknowledge fast, lose nothing" and "exactly one effect":

- a callback acknowledged by `serve --no-worker`, whose process dies before any worker
  ran, is processed once by a worker started afterwards;
- a worker killed while WeCom has taken its message but not yet answered: the lease runs
  out, another worker sends again, and WeCom's duplicate check (same request body within
  `duplicate_check_interval`) keeps the candidate from seeing it twice;
- a process killed after the flow's decision was committed to the outbox but before the
  message reached WeCom: the message goes out once after the restart.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.storage.models import InboundEvent, Offer, Outbox, TimelineEvent
from tests import offer_steps
from tests.helpers import drain, wait_for
from tests.offer_steps import PHONE
from tests.standins.wecom import image_xml, text_xml

CANDIDATE = "lisi"
DEADLINE = 30.0  # generous: two cores shared with other test runs


async def make_offer(env) -> dict:
    """A WeCom offer to CANDIDATE through the ATS API, delivered by an in-process worker
    (no subprocess has run yet)."""
    async with TestClient(TestServer(build_app(env.rt))) as client:
        answer = await offer_steps.make_offer(
            client,
            requisition={"external_id": "req-be", "title": "后端工程师"},
            candidate={
                "external_id": "c-1",
                "name": "李四",
                "phone": PHONE,
                "wecom_user_id": CANDIDATE,
            },
            channel="wecom",
        )
    await drain(env.rt)
    assert env.standin.delivered_to(CANDIDATE), "the offer reached the candidate"
    return answer


async def settled(event_id: int) -> bool:
    """The inbound is done and nothing it produced is still waiting to go out."""
    row = await InboundEvent.get(id=event_id)
    pending = await Outbox.filter(status="pending").count()
    return row.status == "done" and pending == 0


def assert_each_send_once(env, user: str) -> None:
    """Every message WeCom showed `user` was shown once (the de-dup key, i.e. the body,
    is never delivered twice)."""
    keys = [_key(c.body) for c in _user_calls(env, user) if c.answer == 0 and not c.duplicate]
    assert len(keys) == len(set(keys)), "a message reached the candidate twice"


def _user_calls(env, user: str):
    return [
        c
        for c in env.standin.calls_to("message/send")
        if isinstance(c.body, dict) and c.body.get("touser") == user
    ]


async def test_acknowledged_callback_survives_sigkill_before_any_worker(fault_env):
    env = fault_env
    offer = await make_offer(env)
    shown_before = len(env.standin.delivered_to(CANDIDATE))
    serve = await env.procs.serve("--no-worker")

    status = await env.callback(serve, text_xml(CANDIDATE, "好的，我接受这个offer"))
    assert status == 200
    serve.kill()  # acknowledged; the process is gone before anyone did the work

    (event,) = await InboundEvent.filter(platform="wecom").all()
    assert event.status == "pending"  # stored durably, not processed
    assert await TimelineEvent.filter(kind="candidate_reply").count() == 0

    env.procs.worker()
    await wait_for(lambda: settled(event.id), timeout=DEADLINE)

    row = await Offer.get(id=offer["id"])
    assert row.status == "accepted"
    assert await TimelineEvent.filter(offer_id=row.id, kind="candidate_reply").count() == 1
    event = await InboundEvent.get(id=event.id)
    assert event.status == "done" and event.attempts == 1
    assert_answered_once(env, shown_before)
    # Nothing was sent twice, not even to WeCom's duplicate check; HR heard it once.
    assert await Outbox.filter(attempts__gt=1).count() == 0
    robot = [_key(b) for b in env.standin.delivered("webhook/send")]
    assert len(robot) == len(set(robot))


async def test_worker_killed_while_wecom_holds_its_answer(fault_env):
    """WeCom took the message, the worker died before hearing back: the retry carries
    the same de-dup key, WeCom answers it without showing it again."""
    env = fault_env
    await make_offer(env)
    shown_before = len(env.standin.delivered_to(CANDIDATE))
    env.standin.hold("message/send", when="after")
    serve = await env.procs.serve("--no-worker")
    worker = env.procs.worker()

    assert await env.callback(serve, text_xml(CANDIDATE, "好的，我接受这个offer")) == 200
    await wait_for(lambda: _is_set(env.standin.held), timeout=DEADLINE)
    worker.kill()  # mid-job: the send reached WeCom, its answer never came back
    env.standin.release()
    (held,) = env.standin.held_calls
    held_key = _key(held.body)
    assert not held.duplicate and held.answer == 0  # WeCom did show it once

    env.procs.worker()  # the lease (stale_after = 2 s) runs out; this one takes over
    (event,) = await InboundEvent.filter(platform="wecom").all()
    await wait_for(lambda: settled(event.id), timeout=DEADLINE)

    # The held message was sent again with the same de-dup key, and suppressed.
    again = [c for c in _user_calls(env, held.body["touser"]) if _key(c.body) == held_key]
    assert len(again) == 2, "the message was not retried after the worker died"
    assert again[1].duplicate, "the retry changed the request body: WeCom would show it twice"
    assert await Outbox.filter(attempts__gte=2, status="sent").exists()
    assert await TimelineEvent.filter(kind="candidate_reply").count() == 1
    assert_answered_once(env, shown_before)


async def test_worker_killed_while_processing_a_callback(fault_env):
    """A worker dies inside process_inbound (WeCom's media/get never answers): once its
    lease runs out the next worker processes the callback, once. arq itself would keep
    the job marked as running for job_timeout + 10 s (130 s by default)."""
    env = fault_env
    await make_offer(env)
    media_id = env.standin.add_media(b"%PDF-1.4 not much of a scan", "id.pdf", "application/pdf")
    env.standin.hold("media/get", when="before")
    serve = await env.procs.serve("--no-worker")
    worker = env.procs.worker()

    assert await env.callback(serve, image_xml(CANDIDATE, media_id)) == 200
    await wait_for(lambda: _is_set(env.standin.held), timeout=DEADLINE)
    worker.kill()
    env.standin.release()
    (event,) = await InboundEvent.filter(platform="wecom").all()
    assert event.status == "pending" and event.locked_until is not None  # held by the dead

    env.procs.worker()
    await wait_for(lambda: settled(event.id), timeout=DEADLINE)
    event = await InboundEvent.get(id=event.id)
    assert event.attempts == 2  # the dead worker's claim, then the new one's
    # Asked twice: the dead worker's call (held, never answered) and the new one's.
    assert len(env.standin.held_calls) == 1 and len(env.standin.calls_to("media/get")) == 1
    replies = await Outbox.filter(idempotency_key__startswith=f"reply:wecom:{event.event_id}:")
    assert replies and all(r.status == "sent" for r in replies)
    assert await TimelineEvent.filter(kind="candidate_reply").count() <= 1
    assert_each_send_once(env, CANDIDATE)


async def test_crash_after_the_decision_before_delivery(fault_env):
    """`offerbot serve` (HTTP + worker) dies after the flow committed its outbox rows and
    before any of them reached WeCom: a worker started afterwards delivers each once."""
    env = fault_env
    offer = await make_offer(env)
    shown_before = len(env.standin.delivered_to(CANDIDATE))
    env.standin.hold("message/send", when="before", times=1000)  # nothing gets through
    serve = await env.procs.serve()

    assert await env.callback(serve, text_xml(CANDIDATE, "好的，我接受这个offer")) == 200
    await wait_for(lambda: _is_set(env.standin.held), timeout=DEADLINE)
    serve.kill_with_worker()  # the whole bot: HTTP and its worker child
    env.standin.release()

    # The decision is durable: the reply is processed, its messages wait in the outbox.
    (event,) = await InboundEvent.filter(platform="wecom").all()
    assert event.status == "done"
    assert (await Offer.get(id=offer["id"])).status == "accepted"
    waiting = await Outbox.filter(status="pending", recipient_id=CANDIDATE).count()
    assert waiting >= 1
    assert len(env.standin.delivered_to(CANDIDATE)) == shown_before  # nothing got out

    env.procs.worker()
    await wait_for(lambda: settled(event.id), timeout=DEADLINE)
    assert await TimelineEvent.filter(kind="candidate_reply").count() == 1
    assert_answered_once(env, shown_before)


def _is_set(flag) -> object:
    async def check() -> bool:
        return flag.is_set()

    return check()


def _key(body: dict) -> str:
    import json

    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def assert_answered_once(env, shown_before: int) -> None:
    """The candidate was told "welcome" once, and no message was shown twice."""
    new = env.standin.delivered_to(CANDIDATE)[shown_before:]
    welcome = [m for m in new if m.get("msgtype") == "text" and "欢迎加入" in m["text"]["content"]]
    assert len(welcome) == 1, new
    assert_each_send_once(env, CANDIDATE)
