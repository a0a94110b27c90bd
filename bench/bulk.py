"""A database that has been in use for a while: N offers with their candidates,
applications, timers (spread over the coming month), past callbacks, sent messages and
timeline — bulk-inserted with executemany, datetimes passed as the ORM passes them.

Per offer k (candidate `bench_u<k>` on WeCom):
- 60 % are waiting for the candidate (`sent/awaiting_reply`): remind, escalate and expire
  timers pending, due between now and about 36 days from now;
- 40 % are decided (accepted, declined, expired): their three timers done or cancelled.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise import Tortoise

REQUISITIONS = 50
CHUNK = 5000


def _sql(dialect: str, table: str, columns: Sequence[str]) -> str:
    marks = [f"${i + 1}" if dialect == "postgres" else "?" for i in range(len(columns))]
    cols = ",".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({cols}) VALUES ({",".join(marks)})'


async def _insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    conn = Tortoise.get_connection("default")
    sql = _sql(conn.capabilities.dialect, table, columns)
    batch: list[list[Any]] = []
    total = 0
    for row in rows:
        batch.append(list(row))
        if len(batch) >= CHUNK:
            await conn.execute_many(sql, batch)
            total, batch = total + len(batch), []
    if batch:
        await conn.execute_many(sql, batch)
        total += len(batch)
    return total


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def load(offers: int, *, now: datetime | None = None, seed: int = 7) -> dict[str, int]:
    """Insert `offers` offers and everything around them; returns rows per table."""
    now = now or datetime.now(UTC)
    rnd = random.Random(seed)
    month = timedelta(days=30).total_seconds()
    counts: dict[str, int] = {}
    stamp = {"created_at": now - timedelta(days=40), "updated_at": now - timedelta(days=40)}

    counts["requisition"] = await _insert(
        "requisition",
        ["created_at", "updated_at", "external_id", "title", "headcount", "urgency", "status"],
        (
            [stamp["created_at"], stamp["updated_at"], f"bench-req-{r}", f"岗位 {r}", 3, "normal",
             "open"]
            for r in range(REQUISITIONS)
        ),
    )  # fmt: skip
    counts["candidate"] = await _insert(
        "candidate",
        ["created_at", "updated_at", "name", "phone", "phone_norm", "wecom_user_id"],
        (
            [stamp["created_at"], stamp["updated_at"], f"候选人{k}", f"139{k:08d}", f"139{k:08d}",
             f"bench_u{k}"]
            for k in range(offers)
        ),
    )  # fmt: skip
    counts["application"] = await _insert(
        "application",
        ["created_at", "updated_at", "applied_at", "candidate_id", "requisition_id"],
        (
            [stamp["created_at"], stamp["updated_at"], now - timedelta(days=45), k + 1,
             k % REQUISITIONS + 1]
            for k in range(offers)
        ),
    )  # fmt: skip

    sqlite = Tortoise.get_connection("default").capabilities.dialect == "sqlite"
    salary = "25000.00" if sqlite else Decimal("25000.00")  # as the ORM passes a Decimal
    waiting = [rnd.random() < 0.6 for _ in range(offers)]
    anchor = [now + timedelta(seconds=rnd.uniform(60, month)) for _ in range(offers)]
    decided = ("accepted", "declined", "expired")

    def offer_row(k: int) -> list[Any]:
        delivered = anchor[k] - timedelta(days=1) if waiting[k] else now - timedelta(days=20)
        status = "sent" if waiting[k] else decided[k % 3]
        stage = "awaiting_reply" if waiting[k] else ("confirmed" if k % 3 == 0 else "closed")
        data = {"address": ["wecom", f"bench_u{k}"]}
        return [
            stamp["created_at"], stamp["updated_at"], salary, "CNY",
            date.today() + timedelta(days=30), delivered + timedelta(days=7), "wecom", status,
            stage, delivered, 0, _json(data), k + 1, k + 1, k % REQUISITIONS + 1,
        ]  # fmt: skip

    counts["offer"] = await _insert(
        "offer",
        ["created_at", "updated_at", "salary_monthly", "currency", "start_date", "expires_at",
         "channel", "status", "stage", "delivered_at", "reminders_sent", "data",
         "application_id", "candidate_id", "requisition_id"],
        (offer_row(k) for k in range(offers)),
    )  # fmt: skip

    kinds = (("remind", timedelta(0)), ("escalate", timedelta(days=1)), ("expire", timedelta(6)))

    def timer_rows():
        for k in range(offers):
            for name, offset in kinds:
                if waiting[k]:
                    status, due = "pending", anchor[k] + offset
                else:
                    status, due = (
                        ("done" if name == "remind" else "cancelled"),
                        now - timedelta(days=19),
                    )
                yield [f"offer:{k + 1}:{name}", f"offer_{name}", k + 1, k + 1, due, status, 0,
                       "{}", now - timedelta(days=20)]  # fmt: skip

    counts["timer"] = await _insert(
        "timer",
        ["key", "kind", "offer_id", "candidate_id", "due_at", "status", "attempts", "data",
         "created_at"],
        timer_rows(),
    )  # fmt: skip

    def past(k: int) -> datetime:
        return now - timedelta(seconds=rnd.uniform(86_400, month))

    counts["inbound_event"] = await past_callbacks(offers, now=now, seed=seed)
    counts["outbox"] = await _insert(
        "outbox",
        ["idempotency_key", "platform", "recipient_kind", "recipient_id", "candidate_id",
         "offer_id", "payload", "status", "attempts", "not_before", "sent_at", "created_at"],
        (
            [f"offer:{k + 1}:message:wecom:bench_u{k}", "wecom", "user", f"bench_u{k}", k + 1,
             k + 1, _json({"kind": "text", "text": "offer"}), "sent", 1, (t := past(k)), t, t]
            for k in range(offers)
        ),
    )  # fmt: skip
    counts["timeline_event"] = await _insert(
        "timeline_event",
        ["candidate_id", "offer_id", "kind", "actor", "data", "at"],
        ([k + 1, k + 1, "offer_queued", "api", "{}", past(k)] for k in range(offers)),
    )
    counts["conversation"] = await _insert(
        "conversation",
        ["platform", "user_id", "candidate_id", "state", "context", "sent_since_inbound",
         "updated_at", "last_inbound_at"],
        (
            ["wecom", f"bench_u{k}", k + 1, "idle", "{}", 0, (t := past(k)), t]
            for k in range(offers)
        ),
    )  # fmt: skip
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script("ANALYZE")  # what autovacuum does after a bulk load
    return counts


async def past_callbacks(n: int, *, now: datetime | None = None, seed: int = 7) -> int:
    """`n` callbacks received over the past month, already processed."""
    now = now or datetime.now(UTC)
    rnd = random.Random(seed)

    def row(k: int) -> list[Any]:
        event_id = f"msg:bench-{k}"
        payload = {"platform": "wecom", "event_id": event_id, "sender_id": f"bench_u{k}"}
        received = now - timedelta(seconds=rnd.uniform(86_400, 30 * 86_400))
        return ["wecom", event_id, "text", _json(payload), "done", 1, received, received]

    return await _insert(
        "inbound_event",
        ["platform", "event_id", "kind", "payload", "status", "attempts", "received_at",
         "processed_at"],
        (row(k) for k in range(n)),
    )  # fmt: skip


def waiting_offer_ids(offers: int, seed: int = 7) -> list[int]:
    """Ids of the offers `load` left waiting for the candidate (same seed, same answer)."""
    rnd = random.Random(seed)
    return [k + 1 for k in range(offers) if rnd.random() < 0.6]
