"""Quiet hours: candidate messages wait for the window to end (company time zone); HR
alerts go at once; timers still fire on time, only their words to the candidate wait.

The window is set around the real "now" so the worker's own clock is inside it. The
worker's job functions are called directly, to show what each one does at night."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq import Retry

from bot.channels.base import HR_GROUP
from bot.services.ingest import store_inbound
from bot.storage.models import Alert, Offer, Outbox, Timer
from bot.worker import deliver, fire_timer, process_inbound
from tests.helpers import drain, sent_messages
from tests.offer_steps import CANDIDATE, api, hire, said

SHANGHAI = "Asia/Shanghai"


def window_around_now(settings) -> tuple[list[str], datetime]:
    """Quiet hours from an hour ago to an hour from now, and when they end (UTC)."""
    local = datetime.now(settings.company.tz)
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    ends = end.replace(second=0, microsecond=0).astimezone(UTC)
    return [start.strftime("%H:%M"), end.strftime("%H:%M")], ends


def ctx(rt) -> dict[str, Any]:
    return {"rt": rt}


async def test_the_offer_waits_for_morning_but_hr_hears_at_once(settings_factory, make_runtime):
    base = settings_factory(company={"timezone": SHANGHAI})
    window, ends = window_around_now(base)
    rt = await make_runtime(settings_factory(company={"timezone": SHANGHAI, "quiet_hours": window}))
    async with api(rt) as client:
        answer = await hire(client, expectations={"salary_min": 30000})

    offer_row = await Outbox.get(offer_id=answer["id"], recipient_id=CANDIDATE)
    advisory = await Outbox.get(recipient_id=HR_GROUP)
    assert offer_row.not_before == ends
    assert advisory.not_before <= rt.clock()
    # The worker sends HR's advisory now and refuses the offer until the window ends.
    assert await deliver(ctx(rt), advisory.id) == "sent"
    with pytest.raises(Retry) as held:
        await deliver(ctx(rt), offer_row.id)
    waits = held.value.defer_score / 1000
    assert abs(waits - (ends - rt.clock()).total_seconds()) < 60
    assert (await Outbox.get(id=offer_row.id)).status == "pending"
    # The deadline shown counts from the morning, not from the night before.
    offer = await Offer.get(id=answer["id"])
    assert offer.expires_at == ends + rt.settings.timers.offer_expires_after
    assert offer.delivered_at is None
    assert not await Timer.filter(offer_id=offer.id, kind="offer_remind").exists()

    # Morning: the window is over and the sweeper hands the held offer to the worker.
    rt.clock = lambda: ends + timedelta(seconds=1)
    await drain(rt)
    assert len(await sent_messages("web", CANDIDATE)) == 1
    offer = await Offer.get(id=answer["id"])
    assert offer.delivered_at == ends + timedelta(seconds=1)
    remind = await Timer.get(offer_id=offer.id, kind="offer_remind")
    assert remind.due_at == offer.delivered_at + rt.settings.timers.offer_unconfirmed_after


async def night_falls(rt) -> datetime:
    """Quiet hours start now (the offer was delivered during the day)."""
    window, ends = window_around_now(rt.settings)
    rt.settings = rt.settings.replace(company={"quiet_hours": window})
    return ends


async def delivered_offer(rt) -> Offer:
    async with api(rt) as client:
        answer = await hire(client)
    await drain(rt)
    return await Offer.get(id=answer["id"])


async def test_a_reply_at_night_alerts_hr_now_and_answers_in_the_morning(rt):
    offer = await delivered_offer(rt)
    ends = await night_falls(rt)
    pk, _ = await store_inbound(rt, said("我再考虑一下，家里人不太同意"))
    assert await process_inbound(ctx(rt), pk) == "offer"

    alert = await Alert.get(offer_id=offer.id)
    hr_row = await Outbox.get(alert_id=alert.id)
    assert hr_row.status == "sent"  # delivered by the job that wrote it, at night too
    ack = await Outbox.filter(offer_id=offer.id, recipient_id=CANDIDATE).order_by("-id").first()
    assert ack.not_before == ends and ack.status == "pending"
    with pytest.raises(Retry):
        await deliver(ctx(rt), ack.id)


async def test_timers_fire_on_time_at_night_only_the_candidates_words_wait(rt):
    offer = await delivered_offer(rt)
    ends = await night_falls(rt)
    # The reminder and the escalation come due in the middle of the night.
    await Timer.filter(offer_id=offer.id, kind__in=["offer_remind", "offer_escalate"]).update(
        due_at=rt.clock() - timedelta(seconds=1)
    )
    remind = await Timer.get(offer_id=offer.id, kind="offer_remind")
    escalate = await Timer.get(offer_id=offer.id, kind="offer_escalate")
    assert await fire_timer(ctx(rt), remind.id) == "fired"
    assert await fire_timer(ctx(rt), escalate.id) == "fired"

    reminder = await Outbox.get(idempotency_key=f"offer:{offer.id}:reminder")
    assert reminder.not_before == ends
    silent = await Alert.get(offer_id=offer.id, kind="silent")
    hr_row = await Outbox.get(alert_id=silent.id)
    assert hr_row.not_before <= rt.clock()
    assert hr_row.status == "sent"

    # A reply before morning cancels the held reminder: it is never sent.
    pk, _ = await store_inbound(rt, said("收到，明天答复您"))
    await process_inbound(ctx(rt), pk)
    assert (await Outbox.get(id=reminder.id)).status == "cancelled"


async def test_expiry_at_night_closes_the_offer_at_once(rt):
    offer = await delivered_offer(rt)
    ends = await night_falls(rt)
    await Timer.filter(offer_id=offer.id, kind="offer_expire").update(
        due_at=rt.clock() - timedelta(seconds=1)
    )
    expire = await Timer.get(offer_id=offer.id, kind="offer_expire")
    assert await fire_timer(ctx(rt), expire.id) == "fired"
    assert (await Offer.get(id=offer.id)).status == "expired"
    notice = await Outbox.get(idempotency_key=f"offer:{offer.id}:expired")
    assert notice.not_before == ends
    alert = await Alert.get(offer_id=offer.id, kind="expiry")
    assert (await Outbox.get(alert_id=alert.id)).not_before <= rt.clock()


async def test_a_reply_cancels_an_hr_remind_still_waiting_for_morning(rt):
    """SPEC §2.1.4: any candidate reply cancels the pending reminder — HR's /remind too."""
    offer = await delivered_offer(rt)
    await night_falls(rt)
    await store_inbound(rt, said("/remind 张三", user="hr1"))  # web:hr1 is an HR admin
    await drain(rt)
    held = await Outbox.get(offer_id=offer.id, idempotency_key__contains=":reminder:hr:")
    assert held.status == "pending"  # a candidate message: it waits for the morning
    assert held.payload["actions"]  # the offer's own reminder card, with its buttons

    pk, _ = await store_inbound(rt, said("收到，我再想想"))
    await process_inbound(ctx(rt), pk)
    held = await Outbox.get(id=held.id)
    assert (held.status, held.last_error) == ("cancelled", "the candidate replied")


async def restarted(make_runtime, settings):
    """A process started again with `settings`: its worker's first run, then the work."""
    from bot.worker import build_worker

    rt = await make_runtime(settings)
    worker = build_worker(rt, burst=True)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    await drain(rt)
    return rt


async def night_runtime(settings_factory, make_runtime):
    base = settings_factory(company={"timezone": SHANGHAI})
    window, ends = window_around_now(base)
    rt = await make_runtime(settings_factory(company={"timezone": SHANGHAI, "quiet_hours": window}))
    return rt, ends


async def test_a_restart_without_quiet_hours_releases_what_they_held(
    settings_factory, make_runtime
):
    rt, ends = await night_runtime(settings_factory, make_runtime)
    async with api(rt) as client:
        answer = await hire(client)
    await drain(rt)
    row = await Outbox.get(offer_id=answer["id"], recipient_id=CANDIDATE)
    assert (row.status, row.not_before) == ("pending", ends)

    # HR sets `quiet_hours = []` and restarts: the held offer goes now, its deadline kept.
    deadline = (await Offer.get(id=answer["id"])).expires_at
    await restarted(
        make_runtime, settings_factory(company={"timezone": SHANGHAI, "quiet_hours": []})
    )
    assert (await Outbox.get(id=row.id)).status == "sent"
    offer = await Offer.get(id=answer["id"])
    assert offer.delivered_at is not None and offer.expires_at == deadline


async def test_a_restart_with_a_later_morning_holds_until_then(settings_factory, make_runtime):
    rt, ends = await night_runtime(settings_factory, make_runtime)
    async with api(rt) as client:
        answer = await hire(client)
    local = ends.astimezone(rt.settings.company.tz)
    start = (local - timedelta(hours=2)).strftime("%H:%M")
    window = [start, (local + timedelta(hours=1)).strftime("%H:%M")]
    await restarted(
        make_runtime, settings_factory(company={"timezone": SHANGHAI, "quiet_hours": window})
    )
    row = await Outbox.get(offer_id=answer["id"], recipient_id=CANDIDATE)
    assert row.status == "pending" and row.not_before == ends + timedelta(hours=1)


async def test_the_advisory_and_the_card_show_one_deadline(settings_factory, make_runtime):
    rt, ends = await night_runtime(settings_factory, make_runtime)
    async with api(rt) as client:
        answer = await hire(client, expectations={"salary_min": 30000})
    offer = await Offer.get(id=answer["id"])
    shown = offer.expires_at.astimezone(rt.settings.company.tz).strftime("%Y-%m-%d %H:%M")
    advisory = await Outbox.get(recipient_id=HR_GROUP)
    card = await Outbox.get(offer_id=offer.id, recipient_id=CANDIDATE)
    assert shown in advisory.payload["text"]
    assert shown in card.payload["text"]
    # Morning: delivered a little late; the deadline the candidate read does not move.
    rt.clock = lambda: ends + timedelta(minutes=7)
    await drain(rt)
    assert (await Offer.get(id=offer.id)).expires_at == offer.expires_at


async def test_the_playground_shows_messages_in_the_order_they_were_written(
    settings_factory, make_runtime
):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    rt, _ = await night_runtime(settings_factory, make_runtime)
    async with TestClient(TestServer(build_app(rt))) as client:
        await hire(client)
        body = {"role": "candidate", "user": CANDIDATE, "text": "在吗"}
        assert (await client.post("/playground/api/send", json=body)).status == 202
        await drain(rt)
        history = await client.get("/playground/api/history", params={"user": CANDIDATE})
        items = [i for i in (await history.json())["items"] if i["pane"] == "candidate"]
    assert [(i["dir"], i["status"]) for i in items] == [
        ("out", "scheduled"),  # the offer, held for the morning
        ("in", "received"),  # the candidate's message, after the offer it answers
        ("out", "scheduled"),  # the bot's answer to it
    ]
    assert ":message:" in items[0]["id"]
