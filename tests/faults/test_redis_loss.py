"""Redis is a cache of what the database already says (SPEC §4 "lose nothing … no timer"):

- Redis emptied (FLUSHDB) while offers wait on reminder and escalation timers that were
  queued in it as deferred jobs: the worker's sweeper re-creates them from the `timer`
  rows, and each fires once — one reminder per candidate, one escalation per offer;
- Redis down entirely: `offerbot serve` still stores and acknowledges callbacks (every
  200 has its row; a 5xx would be allowed, a 200 without a row never), /readyz says Redis
  is the problem, and when Redis comes back on the same port, empty, every callback is
  processed once without restarting anything.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.queue import QUEUE_NAME
from bot.storage.models import InboundEvent, Offer, Outbox, TimelineEvent, Timer
from tests.helpers import wait_for
from tests.offer_steps import make_offer
from tests.standins.wecom import text_xml

DEADLINE = 30.0
CANDIDATES = ["wang", "zhao", "qian"]


async def create_offers(env) -> list[int]:
    """One WeCom offer per candidate through the ATS API (the worker process delivers)."""
    ids = []
    start = (date.today() + timedelta(days=30)).isoformat()
    async with TestClient(TestServer(build_app(env.rt))) as client:
        for n, user in enumerate(CANDIDATES):
            answer = await make_offer(
                client,
                requisition={"external_id": "req-1", "title": "测试工程师"},
                candidate={"external_id": f"c-{user}", "name": f"候选人{n}", "wecom_user_id": user},
                salary_monthly="20000",
                start_date=start,
                channel="wecom",
            )
            ids.append(answer["id"])
    return ids


async def test_redis_flushed_while_timers_wait(fault_env_factory):
    timers = {
        "offer_unconfirmed_after": "4s",  # the reminder
        "offer_escalate_after": "5s",  # the "silent candidate" HR alert
        "offer_expires_after": "1h",
    }
    async with fault_env_factory(timers=timers) as env:
        env.procs.worker()
        offer_ids = await create_offers(env)

        async def armed() -> list[Timer]:
            rows = await Timer.filter(kind__in=["offer_remind", "offer_escalate"]).all()
            return rows if len(rows) == 2 * len(offer_ids) else []

        armed_timers = await wait_for(armed, timeout=DEADLINE)
        # They sit in Redis as deferred jobs; make sure the flush takes them away.
        queued = {j.decode() for j in await env.rt.redis.zrange(QUEUE_NAME, 0, -1)}
        assert {f"timer:{t.id}" for t in armed_timers} <= queued
        await env.rt.redis.flushdb()
        assert await env.rt.redis.dbsize() == 0
        pending = await Timer.filter(id__in=[t.id for t in armed_timers], status="pending")
        assert len(pending) == len(armed_timers), "a timer fired before Redis was emptied"

        async def all_fired() -> bool:
            waiting = await Timer.filter(
                id__in=[t.id for t in armed_timers], status="pending"
            ).count()
            return waiting == 0 and await Outbox.filter(status="pending").count() == 0

        await wait_for(all_fired, timeout=DEADLINE)

        for offer_id, user in zip(offer_ids, CANDIDATES, strict=True):
            offer = await Offer.get(id=offer_id)
            assert offer.reminders_sent == 1
            kinds = await TimelineEvent.filter(offer_id=offer_id).values_list("kind", flat=True)
            assert kinds.count("reminder_sent") == 1
            assert kinds.count("silent_escalated") == 1
            reminder = await Outbox.get(idempotency_key=f"offer:{offer_id}:reminder")
            assert reminder.status == "sent"
            # What WeCom showed the candidate: the offer and one reminder, nothing twice.
            shown = env.standin.delivered_to(user)
            keys = [repr(sorted(m.items())) for m in shown]
            assert len(keys) == len(set(keys))
            cards = [m for m in shown if m.get("msgtype") == "template_card"]
            reminders = [c for c in cards if "reminder" in c["template_card"]["task_id"]]
            assert len(reminders) == 1, shown
        for t in await Timer.filter(id__in=[t.id for t in armed_timers]):
            assert t.status == "done"


@pytest.mark.parametrize(
    ("processes", "lost"),
    [
        ("serve", "while_running"),  # one process: HTTP and its in-process worker
        ("serve", "before_start"),
        ("serve --no-worker + worker", "while_running"),  # the production split
    ],
)
async def test_redis_down_callbacks_stored_and_processed_when_it_returns(
    fault_env_factory, own_redis, processes, lost
):
    async with fault_env_factory(redis_url=own_redis.url) as env:
        users = ["u1", "u2", "u3"]
        if lost == "before_start":
            own_redis.kill()
        if processes == "serve":
            serve = await env.procs.serve()
        else:
            serve = await env.procs.serve("--no-worker")
            env.procs.worker()
        if lost == "while_running":
            users.insert(0, "before")  # working before the outage
            assert await env.callback(serve, text_xml("before", "你好")) == 200
            await wait_for(lambda: _answered("before", env), timeout=DEADLINE)
            own_redis.kill()

        statuses = {}
        for user in users[-3:]:
            statuses[user] = await env.callback(serve, text_xml(user, "你好"))
        for user, status in statuses.items():
            assert status == 200 or status >= 500, status
            if status == 200:  # acknowledged means stored
                assert await _stored(user), f"{user} acknowledged but not stored"
        assert any(s == 200 for s in statuses.values()), "the database is fine: store and ack"
        await asyncio.sleep(1.5)  # an outage longer than the worker's poll and sweep
        status, body = await env.readyz(serve)
        assert status == 503 and body["checks"]["redis"] != "ok", body
        assert body["checks"]["database"] == "ok"
        assert not any(env.standin.delivered_to(user) for user in statuses)  # nobody can work

        own_redis.start()  # back on the same port, empty
        for user, status in statuses.items():
            if status != 200:  # the platform retries what was not acknowledged
                assert await env.callback(serve, text_xml(user, "你好")) == 200

        async def all_done() -> bool:
            rows = await InboundEvent.all()
            pending = await Outbox.filter(status="pending").exists()
            return len(rows) == len(users) and all(r.status == "done" for r in rows) and not pending

        await wait_for(all_done, timeout=DEADLINE)
        for user in users:  # each processed once: one answer each
            assert len(env.standin.delivered_to(user)) == 1, user
        assert (await env.readyz(serve))[0] == 200
        assert all(p.alive() for p in env.procs.started), "a process gave up on Redis"


async def _stored(user: str) -> bool:
    return any(row.payload.get("sender_id") == user for row in await InboundEvent.all())


async def _answered(user: str, env) -> bool:
    await asyncio.sleep(0)
    return bool(env.standin.delivered_to(user))
