"""What one candidate reply costs in SQL statements, from the callback's INSERT to the
last delivery the job makes (docs/performance.md, "The reply path"). Counted on
tortoise's own connection log (every statement it runs, the hot paths in plain SQL
through it too), so the count is deterministic on each backend: a change that adds a
statement to the reply path fails here and says so."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bot.services.ingest import store_inbound
from bot.storage.models import Alert, InboundEvent, Offer, Outbox, Timer
from bot.worker import build_worker
from tests.helpers import drain
from tests.offer_steps import api, hire, said

# Measured ceilings; the issue's target is 12 for a reply (docs/performance.md, "The reply
# path", lists them). They were 32 and 36 before bot/storage/sql.py, 19 and 33 after it,
# 20 and 38 with the cards that show their outcome (bot/flows/cards.py); the worker's
# start-up is not counted since (it was 1 of those); 12 and 17 before the candidate and
# their offers were read together, the held messages with the cards, the timers' cancel
# with their arming and the rounds' "sent" marks together (bot/delivery.py).
HESITANT_MAX = 11
ACCEPT_MAX = 12


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage().split(":", 1)[0][:120])


@contextmanager
def counted() -> Iterator[_Count]:
    log = logging.getLogger("tortoise.db_client")
    handler, level = _Count(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


async def _reply_costs(rt, text: str) -> _Count:
    async with api(rt) as client:
        await hire(client)
    await drain(rt)  # the offer goes out; its timers are armed
    # No sweeper: the reply's own job only. The worker's start-up (held messages re-timed
    # once per process: bot/worker.py) runs before the count, as it does in a server.
    worker = build_worker(rt, burst=True)
    try:
        await worker.async_run()
        await worker.close()
        with counted() as count:
            await store_inbound(rt, said(text))
            await worker.async_run()
    finally:
        await worker.close()
    assert await InboundEvent.filter(status="done").count() == 1
    return count


async def test_a_hesitant_reply_costs_at_most_its_statements(rt):
    count = await _reply_costs(rt, "我再考虑一下，薪资能否再谈")
    assert await Alert.filter(kind="hesitate").count() == 1
    assert len(count.statements) <= HESITANT_MAX, "\n".join(count.statements)


async def test_an_accept_costs_at_most_its_statements(rt):
    count = await _reply_costs(rt, "好的，我接受这个offer")
    assert (await Offer.first()).status == "accepted"
    # The offer's timers cancelled and the documents' armed, in one statement (Fx.schedule_all)
    timers = {t.kind: t.status for t in await Timer.all()}
    assert timers == {
        "offer_remind": "cancelled",
        "offer_escalate": "cancelled",
        "offer_expire": "cancelled",
        "docs_remind": "pending",
        "docs_hr_alert": "pending",
        "onboard": "pending",
    }
    # every message of the three rounds noted as sent, with one statement (bot/delivery.py)
    assert await Outbox.filter(status="pending").count() == 0
    assert len(count.statements) <= ACCEPT_MAX, "\n".join(count.statements)


async def test_a_lease_that_ran_low_is_renewed_before_the_send(settings_factory, make_runtime):
    """A message the turn wrote claimed whose lease has less than half left when its send
    comes (here: a lease of 1 ms) gets a new one first (bot/delivery.py: _renew_leases),
    one statement each, and still goes out exactly once."""
    rt = await make_runtime(settings_factory(worker={"stale_after": "1ms"}))
    count = await _reply_costs(rt, "我再考虑一下，薪资能否再谈")
    lease_sql = 'UPDATE "outbox" SET "locked_until"'
    lease_updates = [s for s in count.statements if s.startswith(lease_sql)]
    # kept() also moves a lease on while a send runs (every third of it: here at once);
    # those statements say "locked_until IS NOT NULL" and are not the renewal before the send.
    kept = [s for s in count.statements if '"locked_until" IS NOT NULL' in s]  # any row's
    renewed = [s for s in lease_updates if s not in kept]
    assert len(renewed) == 2  # the HR alert and the acknowledgement
    sent = await Outbox.filter(status="sent").exclude(idempotency_key__startswith="offer:1:message")
    assert sorted(r.attempts for r in sent) == [1, 1]  # claimed once, when written
    assert len(count.statements) == HESITANT_MAX + 2 + len(kept)


def test_only_messages_whose_repeat_is_absorbed_wait_to_be_marked_sent():
    """bot/delivery.py marks several rounds sent at once only for messages a platform
    would not show twice if they went again after a crash (docs/performance.md)."""
    from bot.delivery import repeat_absorbed

    def row(platform, recipient_id, who="user", **payload):
        return Outbox(
            platform=platform,
            recipient_kind=who,
            recipient_id=recipient_id,
            payload={"kind": "text", "text": "x", **payload},
        )

    absorbed = [
        row("web", "cand1"),
        row("web", "hr_group", who="hr_group"),
        row("feishu", "ou_1"),
        row("feishu", "chat:oc_1", who="hr_group"),
        row("wecom", "zhangsan"),
        row("wecom", "zhangsan", kind="card"),
    ]
    shown_twice = [
        row("wecom", "hr_group", who="hr_group"),  # the group robot: no key
        row("wecom", "kf:wmABC"),
        row("wecom", "chat:wr1"),
        row("wecom", "zhangsan", replaces="RESPONSE_CODE"),
        row("wecom", "zhangsan", kind="image"),
        row("sms", "13800138000"),
        row("email", "a@example.com"),
    ]
    assert [repeat_absorbed(r) for r in absorbed] == [True] * len(absorbed)
    assert [repeat_absorbed(r) for r in shown_twice] == [False] * len(shown_twice)
