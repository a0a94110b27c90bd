"""Load: 200 candidates replying within one second (issue 8 §7, SPEC §4 "Acknowledge fast,
lose nothing" and "Exactly one effect").

200 concurrent, individually signed WeCom callbacks from 200 known candidates go to the
app over a real TCP socket (AppRunner + TCPSite on loopback, as `offerbot serve` runs it;
a client with a connection per request). Every one is acknowledged 200 — stored durably
first — and the worker then processes each reply exactly once: one inbound row each, one
answer each at the stand-in, no duplicates.
The latency is printed for the report, not asserted (timing belongs in bench/).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_app
from bot.storage.models import Candidate, InboundEvent, Outbox
from tests.helpers import drain
from tests.standins.wecom import CallbackSigner, running_standin, text_xml

CANDIDATES = 200


@pytest.fixture
async def standin():
    async with running_standin() as fake:
        yield fake


async def test_200_candidates_replying_at_once_are_acknowledged_and_answered_once(
    standin, settings_factory, make_runtime, capsys
):
    rt = await make_runtime(settings_factory(wecom=standin.settings()))
    users = [f"cand{i:03d}" for i in range(CANDIDATES)]
    await Candidate.bulk_create(
        [Candidate(name=f"候选人{i}", wecom_user_id=user) for i, user in enumerate(users)]
    )
    signer = CallbackSigner()
    requests = [signer.post(text_xml(user, f"你好，我是候选人{i}")) for i, user in enumerate(users)]

    # Served the way `offerbot serve` serves it: AppRunner + TCPSite with the configured
    # listen backlog (aiohttp's default 128 would make the kernel drop SYNs of a burst).
    runner = web.AppRunner(build_app(rt), handle_signals=False)
    await runner.setup()
    backlog = rt.settings.server.backlog
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/wecom/callback"
    latencies: list[float] = []

    async def deliver(session: aiohttp.ClientSession, query: dict, body: bytes) -> int:
        started = time.monotonic()
        async with session.post(url, params=query, data=body) as resp:
            await resp.read()
            latencies.append(time.monotonic() - started)
            return resp.status

    try:
        connector = aiohttp.TCPConnector(limit=CANDIDATES)
        async with aiohttp.ClientSession(connector=connector) as session:
            statuses = await asyncio.gather(*(deliver(session, q, b) for q, b in requests))
    finally:
        await runner.cleanup()

    assert statuses == [200] * CANDIDATES
    with capsys.disabled():
        print(f"\n[load] {CANDIDATES} callbacks: max ack latency {max(latencies):.3f}s")
    # Acknowledged means stored: every reply is in the database before the worker runs.
    assert await InboundEvent.filter(platform="wecom").count() == CANDIDATES

    await drain(rt, rounds=60)

    events = await InboundEvent.filter(platform="wecom")
    assert {e.status for e in events} == {"done"}
    assert sorted(e.payload["sender_id"] for e in events) == users
    sends = [c.body["touser"] for c in standin.calls_to("message/send")]
    assert sorted(sends) == users  # one answer per candidate, none twice
    assert all(c.answer == 0 and not c.duplicate for c in standin.calls_to("message/send"))
    rows = await Outbox.filter(platform="wecom", recipient_kind="user")
    assert sorted(r.recipient_id for r in rows) == users
    assert {r.status for r in rows} == {"sent"}
