"""A job that runs longer than its row's lease (`[worker] stale_after`, 2 s here) keeps
the lease: the worker renews it while the job runs (bot/delivery.py::kept), so the sweeper
does not hand the row to a second run beside the first. Real `offerbot serve --no-worker`
and `offerbot worker` processes; the job is held inside WeCom's media/get.
"""

from __future__ import annotations

import asyncio

from bot.storage.models import InboundEvent, Outbox
from tests.faults.test_crash import (
    CANDIDATE,
    DEADLINE,
    _is_set,
    assert_each_send_once,
    make_offer,
    settled,
)
from tests.helpers import wait_for
from tests.standins.wecom import image_xml

STALE_AFTER = 2.0  # the fault env's `[worker] stale_after`


async def test_a_job_longer_than_its_lease_is_not_run_twice(fault_env):
    env = fault_env
    await make_offer(env)
    media_id = env.standin.add_media(b"%PDF-1.4 not much of a scan", "id.pdf", "application/pdf")
    env.standin.hold("media/get", when="before")
    serve = await env.procs.serve("--no-worker")
    env.procs.worker()
    env.procs.worker()  # a second worker, free to take whatever the sweeper re-queues

    assert await env.callback(serve, image_xml(CANDIDATE, media_id)) == 200
    await wait_for(lambda: _is_set(env.standin.held), timeout=DEADLINE)
    # Three and a half leases, with sweeps every second, while the job waits for WeCom.
    await asyncio.sleep(3.5 * STALE_AFTER)
    (event,) = await InboundEvent.filter(platform="wecom").all()
    assert event.status == "pending" and event.locked_until is not None
    assert event.attempts == 1  # nobody claimed it a second time
    assert len(env.standin.held_calls) == 1 and not env.standin.calls_to("media/get")

    env.standin.release()  # the held download fails; the job goes on and finishes
    await wait_for(lambda: settled(event.id), timeout=DEADLINE)
    event = await InboundEvent.get(id=event.id)
    assert event.attempts == 1 and event.locked_until is None
    assert not env.standin.calls_to("media/get")  # the one run only asked once
    replies = await Outbox.filter(idempotency_key__startswith=f"reply:wecom:{event.event_id}:")
    assert replies and all(r.status == "sent" and r.attempts == 1 for r in replies)
    assert_each_send_once(env, CANDIDATE)
