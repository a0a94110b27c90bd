"""Retries must not starve fresh work (docs/redis.md, "Two queues"): with WeCom
unreachable (every message/send answers 503, slowly, as a platform that is down does),
the replies of a burst keep being retried — yet a new inbound event is processed at
once, not after the retries that were due before it.

Measured in sends, not seconds: how many message/send attempts the stand-in saw between
the new callback and its row being `done`. With one queue the new event waits behind
every due retry (about as many as there are recipients); with a queue of its own it
waits for none.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.queue import DELIVERY_QUEUE
from bot.storage.models import InboundEvent, Outbox
from bot.worker import build_worker
from tests.helpers import wait_for
from tests.standins.wecom import CallbackSigner, WecomStandin, text_xml

BURST = 60
SLOTS = 4  # [worker] max_jobs
SEND_TAKES = 0.2  # seconds before the stand-in's 503


class UnreachableWecom(WecomStandin):
    """Tokens work; every message/send answers HTTP 503 after SEND_TAKES."""

    sends = 0

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["endpoint"] == "message/send":
            self.sends += 1
            await asyncio.sleep(SEND_TAKES)
            return web.Response(status=503, text="unreachable")
        return await super()._dispatch(request)


async def _done(user: str) -> bool:
    rows = [r for r in await InboundEvent.all() if r.payload.get("sender_id") == user]
    return bool(rows) and rows[0].status == "done"


async def test_a_new_inbound_does_not_wait_behind_retries(settings_factory, make_runtime):
    standin = UnreachableWecom()
    await standin.start()
    settings = settings_factory(
        wecom=standin.settings(),
        worker={"max_jobs": SLOTS},
        delivery={"max_attempts": 1000, "backoff_base": "50ms", "backoff_max": "300ms"},
    )
    rt = await make_runtime(settings)
    signer = CallbackSigner()
    workers = build_worker(rt)
    running = asyncio.create_task(workers.async_run())
    try:
        async with TestClient(TestServer(build_app(rt))) as client:

            async def callback(user: str) -> None:
                query, body = signer.post(text_xml(user, "你好"))
                resp = await client.post("/wecom/callback", params=query, data=body)
                assert resp.status == 200

            users = [f"burst{n}" for n in range(BURST)]
            await asyncio.gather(*(callback(u) for u in users))

            async def burst_retrying() -> bool:
                done = await InboundEvent.filter(status="done").count()
                failing = await Outbox.filter(status="pending", attempts__gte=2).count()
                return done == BURST and failing >= BURST // 2

            await wait_for(burst_retrying, timeout=60)
            assert await rt.redis.zcard(DELIVERY_QUEUE) > 0  # the retries wait there
            before = standin.sends
            await callback("fresh")
            await wait_for(lambda: _done("fresh"), timeout=60)
            waited = standin.sends - before
            print(f"sends between the new callback and its processing: {waited}")
            assert waited <= BURST // 4, f"the new inbound waited behind {waited} retries"
            assert await Outbox.filter(status="pending").count() >= BURST  # still retrying
    finally:
        await workers.shutdown(5)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await standin.close()
