"""Group commit of inbound events: durable before the answer, once per event, one
enqueue per new row, and still stored when Redis is down."""

import asyncio
from datetime import timedelta

from bot.channels.base import Inbound
from bot.queue import QUEUE_NAME
from bot.services.ingest import store_inbound
from bot.storage.models import InboundEvent
from tests.helpers import drain


def msg(event_id: str, user: str = "u") -> Inbound:
    return Inbound(platform="web", event_id=event_id, sender_id=user, text="hi")


async def test_concurrent_duplicates_store_one_row(rt):
    results = await asyncio.gather(*(store_inbound(rt, msg("same")) for _ in range(3)))
    ids = {pk for pk, _ in results}
    assert len(ids) == 1
    assert sum(created for _, created in results) == 1
    assert await InboundEvent.filter(event_id="same").count() == 1
    again = await store_inbound(rt, msg("same"))
    assert again == (ids.pop(), False)


async def test_many_concurrent_events_are_all_stored_and_queued(rt):
    n = 120
    results = await asyncio.gather(*(store_inbound(rt, msg(f"e{i}", f"u{i}")) for i in range(n)))
    assert all(created for _, created in results)
    assert await InboundEvent.all().count() == n
    assert await rt.redis.zcard(QUEUE_NAME) == n
    await drain(rt)
    assert await InboundEvent.filter(status="done").count() == n


async def test_enqueue_is_not_repeated_for_a_known_job(rt):
    pk, _ = await store_inbound(rt, msg("x1"))
    assert await rt.enqueuer.many("process_inbound", [(f"inbound:{pk}", (pk,))]) == 0
    assert await rt.redis.zcard(QUEUE_NAME) == 1


async def test_redis_down_still_stores_and_acknowledges(rt):
    pool = rt.redis
    rt.redis = None
    try:
        pk, created = await store_inbound(rt, msg("while-down"))
    finally:
        rt.redis = pool
    assert created
    assert (await InboundEvent.get(id=pk)).status == "pending"
    # A little later (past the sweeper's grace period) Redis is back and the sweeper runs.
    await InboundEvent.filter(id=pk).update(received_at=rt.clock() - timedelta(seconds=10))
    await drain(rt)  # Redis is back: the sweeper finds it
    assert (await InboundEvent.get(id=pk)).status == "done"
