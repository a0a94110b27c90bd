"""A worker killed (SIGKILL, by PID) between the delivery rounds of one reply: the rounds'
"sent" marks wait only where a repeat is absorbed (bot/delivery.py: `_deliver_now`,
`repeat_absorbed`; docs/guarantees.md; docs/performance.md, "The reply path").

A WeCom accept goes out in three rounds: (1) the offer card's replacement
(update_template_card, its response code is used once) beside HR's notice (the group
robot, no de-dup key); (2) the candidate's thanks; (3) the first documents request, the
last two app messages with `enable_duplicate_check`. Round 1 cannot be repeated unseen,
so it is noted as sent before round 2 starts; rounds 2 and 3 are noted together after
round 3. A Feishu accept (WeCom off, so HR's notice goes to the Feishu chat) has only
messages whose repeat Feishu drops (`uuid`, a PATCH of the same card): all three rounds
are noted together. The stand-in holds one send of a round (nothing reaches anyone), the
test kills the worker meanwhile, and a new worker finishes the work once the leases run
out.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.storage.models import InboundEvent, Outbox
from tests.faults.test_crash import (
    CANDIDATE,
    DEADLINE,
    _is_set,
    _key,
    _user_calls,
    assert_answered_once,
    make_offer,
    settled,
)
from tests.helpers import drain, wait_for
from tests.standins.feishu import EKEY, VTOKEN, FeishuSender, FeishuStandin, feishu_config
from tests.standins.wecom import text_xml
from tests.test_feishu_offer import make_offer as make_feishu_offer

ACCEPT = "好的，我接受这个offer"
# Leases of 8 s (the fault env's are 2 s): a message sent and not noted is noted at once
# when less than half of the lease it was claimed with is left (bot/delivery.py,
# `_lease_low`); 1 s between the claim and round 3 on a loaded machine would do that.
LEASE = {"stale_after": "8s"}


@pytest.fixture
async def fault_env(fault_env_factory):
    async with fault_env_factory(worker=LEASE) as env:
        yield env


def _text(body) -> str:
    if not isinstance(body, dict) or body.get("msgtype") != "text":
        return ""
    return body["text"]["content"]


def _thanks(body) -> bool:
    return "欢迎加入" in _text(body) and body.get("touser") == CANDIDATE


def _documents_request(body) -> bool:
    return bool(_text(body)) and body.get("touser") == CANDIDATE and not _thanks(body)


async def _accept_held(env, match) -> tuple[list[Outbox], int, int]:
    """The offer out, then the candidate's accept processed by a worker whose send of the
    message `match` picks is held before WeCom acts on it; the worker is killed there.
    The accept's outbox rows as they stood at the kill, and the HR robot's posts and the
    candidate's messages before the accept."""
    await make_offer(env)
    shown_before = len(env.standin.delivered_to(CANDIDATE))
    env.before = await Outbox.all().count()  # the offer's rows: the accept's come after
    env.calls_before = len(_user_calls(env, CANDIDATE))
    robot_before = len(env.standin.delivered("webhook/send"))
    env.standin.hold("message/send", when="before", match=match)
    serve = await env.procs.serve("--no-worker")
    worker = env.procs.worker()
    assert await env.callback(serve, text_xml(CANDIDATE, ACCEPT)) == 200
    await wait_for(lambda: _is_set(env.standin.held), timeout=DEADLINE)
    at_kill = await _accept_rows(env)
    worker.kill()  # mid-round: the rounds before were sent, the held one reached nobody
    env.standin.release()
    return at_kill, robot_before, shown_before


async def _accept_rows(env) -> list[Outbox]:
    rows = await Outbox.all().order_by("id")
    return rows[env.before :]


async def _finish(env) -> list[Outbox]:
    """A new worker takes the dead one's work over; every accept row ends sent."""
    env.procs.worker()
    (event,) = await InboundEvent.filter(platform="wecom").all()
    await wait_for(lambda: settled(event.id), timeout=DEADLINE)
    rows = await _accept_rows(env)
    assert rows and {r.status for r in rows} == {"sent"}, [(r.id, r.status) for r in rows]
    return rows


async def test_deferred_rounds_repeat_only_what_wecom_drops(fault_env):
    """Killed during round 3: round 2's thanks was sent but not yet noted (its mark waits
    for round 3's); the new worker sends it again with the same body, which WeCom's
    duplicate check answers without showing it; round 1 was noted and is not repeated."""
    env = fault_env
    at_kill, robot_before, shown_before = await _accept_held(env, _documents_request)
    by_kind = {_kind(r): r.status for r in at_kill}
    assert by_kind["thanks"] == "pending", by_kind  # sent, its mark deferred
    assert by_kind["hr"] == by_kind["card"] == "sent", by_kind  # round 1: noted at once

    await _finish(env)
    thanks = [c for c in _accept_calls(env) if _thanks(c.body)]
    assert len(thanks) == 2, "the thanks whose mark waited was not sent again"
    assert _key(thanks[0].body) == _key(thanks[1].body)  # the same duplicate-check body
    assert thanks[1].body.get("enable_duplicate_check") == 1
    assert not thanks[0].duplicate and thanks[1].duplicate  # WeCom showed it once
    docs = [c for c in _accept_calls(env) if _documents_request(c.body)]
    assert len(docs) == 1 and docs[0].answer == 0  # the held one reached nobody
    _round_one_once(env, robot_before)
    assert_answered_once(env, shown_before)


async def test_a_round_with_the_hr_robot_is_noted_before_the_next_starts(fault_env):
    """Killed during round 2: round 1 (the HR robot's notice, the card's one-shot update)
    was noted as sent before round 2 started, so the new worker repeats none of it; the
    robot has no de-dup key, and the spent response code would be refused."""
    env = fault_env
    at_kill, robot_before, shown_before = await _accept_held(env, _thanks)
    by_kind = {_kind(r): r.status for r in at_kill}
    assert by_kind["hr"] == by_kind["card"] == "sent", by_kind

    await _finish(env)
    _round_one_once(env, robot_before)
    thanks = [c for c in _accept_calls(env) if _thanks(c.body)]
    assert len(thanks) == 1 and thanks[0].answer == 0  # the held one reached nobody
    assert_answered_once(env, shown_before)


def _accept_calls(env) -> list:
    """WeCom's message/send calls to the candidate since the accept."""
    return _user_calls(env, CANDIDATE)[env.calls_before :]


def _round_one_once(env, robot_before: int) -> None:
    """HR heard of the accept once, and the card was replaced once, without a refusal."""
    robot = env.standin.calls_to("webhook/send")[robot_before:]
    assert len(robot) == 1 and robot[0].answer == 0, [c.body for c in robot]
    updates = env.standin.calls_to("message/update_template_card")
    assert len(updates) == 1 and updates[0].answer == 0, [c.answer for c in updates]


def _kind(row: Outbox) -> str:
    if row.recipient_kind == "hr_group":
        return "hr"
    payload = row.payload
    if payload.get("replaces"):
        return "card"
    return "thanks" if "欢迎加入" in (payload.get("text") or "") else "docs"


# -- Feishu: every message of the accept waits for the last round's mark -----------------

OPEN_ID = "ou_zhang"


class HoldingFeishu(FeishuStandin):
    """The Feishu stand-in, plus: hold the next create/reply `hold_match` accepts, before
    Feishu acts on it (nothing reaches anyone), until `released` is set."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.hold_match = None
        self.held = asyncio.Event()
        self.released = asyncio.Event()

    async def _held(self, request: web.Request) -> bool:
        if self.hold_match is None or not self.hold_match(await self._json(request)):
            return False  # aiohttp keeps the bytes read: the handler reads them again
        self.hold_match = None
        self.held.set()
        await self.released.wait()  # the caller is gone by then: answer nobody
        return True

    async def _create(self, request: web.Request) -> web.Response:
        if await self._held(request):
            return web.Response(status=503)
        return await super()._create(request)

    async def _reply(self, request: web.Request) -> web.Response:
        if await self._held(request):
            return web.Response(status=503)
        return await super()._reply(request)


def _feishu_text(body) -> str:
    if not isinstance(body, dict) or body.get("msg_type") != "text":
        return ""
    return json.loads(body["content"]).get("text", "")


def _feishu_documents_request(body) -> bool:
    """The documents checklist's card to the candidate (the accept's round 3)."""
    if not isinstance(body, dict) or body.get("receive_id") != OPEN_ID:
        return False
    return body.get("msg_type") == "interactive" and "入职材料" in body.get("content", "")


async def test_feishu_rounds_repeat_with_the_same_uuid(fault_env_factory):
    """Killed during round 3 of a Feishu accept: rounds 1 and 2 (the card's PATCH, HR's
    notice in its chat, the thanks) were sent and none noted, since Feishu absorbs each
    repeat; the new worker sends them again with the same `uuid` (the same card content),
    Feishu drops the repeats, and every row ends sent."""
    async with HoldingFeishu() as feishu, fault_env_factory(
        feishu=feishu_config(feishu),
        wecom={"enabled": False},  # HR's notice: Feishu's alone
        worker=LEASE,
    ) as env:
        async with TestClient(TestServer(build_app(env.rt))) as client:
            await make_feishu_offer(client, feishu_open_id=OPEN_ID)
        await drain(env.rt)
        env.before = await Outbox.all().count()
        calls_before, messages_before = len(feishu.calls), len(feishu.messages)
        feishu.hold_match = _feishu_documents_request
        serve = await env.procs.serve("--no-worker")
        worker = env.procs.worker()
        sender = FeishuSender(app_id=feishu.app_id, verification_token=VTOKEN, encrypt_key=EKEY)
        body, headers = sender.request(sender.message(open_id=OPEN_ID, text=ACCEPT))
        async with aiohttp.ClientSession() as http:
            url = f"{serve.url}/feishu/events"
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200
        await wait_for(lambda: _is_set(feishu.held), timeout=DEADLINE)
        at_kill = await _accept_rows(env)
        worker.kill()
        feishu.released.set()
        assert len(at_kill) >= 4, at_kill
        # Rounds 1 and 2 were sent (the held request is round 3's), none is noted yet.
        assert {r.status for r in at_kill} == {"pending"}, [(r.id, r.status) for r in at_kill]

        env.procs.worker()
        (event,) = await InboundEvent.filter(platform="feishu").all()
        await wait_for(lambda: settled(event.id), timeout=DEADLINE)
        rows = await _accept_rows(env)
        assert {r.status for r in rows} == {"sent"}, [(r.id, r.status) for r in rows]

    calls = [c for c in feishu.calls[calls_before:] if c.endpoint in ("create", "reply")]
    shown = feishu.messages[messages_before:]
    # Rounds 1 and 2 went twice, each repeat with its first send's uuid: Feishu showed
    # each once (the stand-in answers a known uuid with its message and shows nothing).
    for picked in (_to_hr, _thanks_feishu):
        sends = [c.body for c in calls if picked(c.body)]
        assert len(sends) == 2, f"sent {len(sends)}x: a message of the rounds before"
        assert sends[0]["uuid"] and sends[0]["uuid"] == sends[1]["uuid"]
        assert len([m for m in shown if m["uuid"] == sends[0]["uuid"]]) == 1
    patches = [json.dumps(p, sort_keys=True) for p in feishu.patches]
    assert len(patches) == 2 and len(set(patches)) == 1, "the repeated PATCH changed the card"
    docs = [c.body for c in calls if _feishu_documents_request(c.body)]
    assert len(docs) == 1  # the held request reached nobody; the new worker's did
    assert sorted(m["uuid"] for m in shown) == sorted({c.body["uuid"] for c in calls})


def _to_hr(body) -> bool:
    return body.get("receive_id") == "oc_hr"


def _thanks_feishu(body) -> bool:
    return body.get("receive_id") == OPEN_ID and "欢迎加入" in _feishu_text(body)


@pytest.mark.parametrize("failures", [1, 2])
async def test_a_message_retried_keeps_the_recipients_order(fault_env, failures):
    """No crash: the candidate's thanks (round 2) fails `failures` times (the platform
    answers 503); the worker retries it with its backoff. The documents request (round 3,
    the same candidate) must not overtake it: it leaves the job to be queued after the
    retry (bot/delivery.py, `_deliver_now`), and when the retry fails again it is still
    not claimed while the thanks is pending (`deliver`). The second failure is held for
    longer than the documents request's place in the queue behind the first retry."""
    env = fault_env
    await make_offer(env)
    shown_before = len(env.standin.delivered_to(CANDIDATE))
    env.before = await Outbox.all().count()
    env.standin.hold("message/send", when="before", match=_thanks)
    serve = await env.procs.serve("--no-worker")
    env.procs.worker()
    assert await env.callback(serve, text_xml(CANDIDATE, ACCEPT)) == 200
    for failure in range(failures):
        await wait_for(lambda: _is_set(env.standin.held), timeout=DEADLINE)
        if failure:  # the documents request is due meanwhile (1 s behind the first retry)
            await asyncio.sleep(2.5)
        env.standin.release()  # the held send answers 503: a transient failure
        if failure + 1 < failures:
            env.standin.hold("message/send", when="before", match=_thanks)  # its retry too

    async def all_sent() -> bool:
        rows = await _accept_rows(env)
        return bool(rows) and {r.status for r in rows} == {"sent"}

    await wait_for(all_sent, timeout=DEADLINE)
    order = [
        "thanks" if _thanks(b) else "documents" if _documents_request(b) else "other"
        for b in env.standin.delivered_to(CANDIDATE)[shown_before:]
    ]
    assert "thanks" in order and "documents" in order, order
    assert order.index("thanks") < order.index("documents"), order
    assert order.count("thanks") == 1, order
