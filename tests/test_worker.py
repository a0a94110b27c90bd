"""The durable path: stored inbound → worker → flow → outbox → delivered, through real Redis."""

from datetime import timedelta

from bot.channels.base import Inbound, Outgoing
from bot.services.ingest import store_inbound
from bot.storage.models import InboundEvent, Outbox, Timer
from bot.worker import sweep_once
from tests.helpers import drain, sent_messages


def text_from(user: str, text: str, event_id: str) -> Inbound:
    return Inbound(platform="web", event_id=event_id, sender_id=user, text=text)


async def test_inbound_is_processed_once_and_answered(rt):
    pk, created = await store_inbound(rt, text_from("u1", "你好", "m1"))
    assert created
    again, created_again = await store_inbound(rt, text_from("u1", "你好", "m1"))
    assert (again, created_again) == (pk, False)
    await drain(rt)
    event = await InboundEvent.get(id=pk)
    assert event.status == "done"
    sent = await sent_messages("web", "u1")
    assert len(sent) == 1
    assert sent[0]["text"] == rt.catalog.t("common.unknown_reply")


async def test_sweeper_recovers_inbound_that_redis_never_got(rt):
    row = await InboundEvent.create(
        platform="web",
        event_id="lost-1",
        payload=text_from("u2", "hi", "lost-1").model_dump(mode="json"),
    )
    # Pretend it arrived a while ago and its enqueue was lost (Redis was down).
    await InboundEvent.filter(id=row.id).update(received_at=rt.clock() - timedelta(seconds=30))
    await drain(rt)
    assert (await InboundEvent.get(id=row.id)).status == "done"
    assert len(await sent_messages("web", "u2")) == 1


async def test_outbox_row_waits_for_not_before(rt):
    fx = rt.fx()
    later = rt.clock() + timedelta(hours=2)
    row = await Outbox.create(
        idempotency_key="k-later",
        platform="web",
        recipient_kind="user",
        recipient_id="u3",
        payload=Outgoing(text="later").model_dump(mode="json"),
        not_before=later,
    )
    await fx.flush()
    found = await sweep_once(rt)
    assert found["outbox"] == 0  # beyond the sweep horizon: left in the database
    assert (await Outbox.get(id=row.id)).status == "pending"


async def test_due_timer_fires_once_even_when_enqueued_twice(rt):
    fx = rt.fx()
    timer = await fx.schedule("t:unknown", "no_such_kind", rt.clock() - timedelta(seconds=1))
    await fx.flush()
    await rt.enqueuer.timer(timer.id)  # a duplicate enqueue is refused by job id
    await drain(rt)
    timer = await Timer.get(id=timer.id)
    assert timer.status == "done"
    assert timer.attempts == 1


async def test_sweeper_frees_only_old_in_progress_markers_of_unclaimed_rows(rt):
    """arq's in-progress marker on a job whose row nobody claimed: a young one belongs to
    a live worker about to claim (left alone); one older than `unclaimed_after` was left
    by a dead worker (dropped, so the job runs). The SIGKILL case itself:
    tests/faults/test_dead_worker.py."""
    from arq.constants import in_progress_key_prefix

    from bot.sweeper import unclaimed_after

    pk, _ = await store_inbound(rt, text_from("u9", "hi", "m9"))
    await InboundEvent.filter(id=pk).update(received_at=rt.clock() - timedelta(seconds=30))
    marker = in_progress_key_prefix + f"inbound:{pk}"
    full_ms = int((rt.settings.worker.job_timeout.total_seconds() + 10) * 1000)
    await rt.redis.psetex(marker, full_ms - 500, b"1")  # set 0.5 s ago
    await sweep_once(rt)
    assert await rt.redis.exists(marker)
    age_ms = int((unclaimed_after(rt) + 1) * 1000)
    await rt.redis.psetex(marker, full_ms - age_ms, b"1")
    await sweep_once(rt)
    assert not await rt.redis.exists(marker)
    await drain(rt)
    assert (await InboundEvent.get(id=pk)).status == "done"
