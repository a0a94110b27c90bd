"""A worker killed (SIGKILL, by PID) between the delivery rounds of one reply: the rounds'
"sent" marks wait only where a repeat is absorbed (bot/delivery.py: `_deliver_now`,
`repeat_absorbed`; docs/guarantees.md; docs/performance.md, "The reply path").

A WeCom accept goes out in three rounds: (1) the offer card's replacement
(update_template_card, its response code is used once) beside HR's notice (the group
robot, no de-dup key); (2) the candidate's thanks; (3) the first documents request, the
last two app messages with `enable_duplicate_check`. Round 1 cannot be repeated unseen,
so it is noted as sent before round 2 starts; rounds 2 and 3 are noted together after
round 3. The stand-in holds one send of a round (nothing reaches anyone), the test kills
the worker meanwhile, and a new worker finishes the work once the leases run out.
"""

from __future__ import annotations

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
from tests.helpers import wait_for
from tests.standins.wecom import text_xml

ACCEPT = "好的，我接受这个offer"


def _text(body) -> str:
    if not isinstance(body, dict) or body.get("msgtype") != "text":
        return ""
    return body["text"]["content"]


def _thanks(body) -> bool:
    return body.get("touser") == CANDIDATE and "欢迎加入" in _text(body)


def _documents_request(body) -> bool:
    return body.get("touser") == CANDIDATE and bool(_text(body)) and not _thanks(body)


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
