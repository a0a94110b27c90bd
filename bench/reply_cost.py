"""What one hesitant reply costs the worker: SQL statements, CPU and wall time.

    python -m bench.reply_cost [--quick] [--backend sqlite|postgres ...] [--conversations N]

In this process with the bot's own runtime and worker, on the `web` platform (no HTTP
stand-in needed, so only the bot's own work is measured): N offers are made and sent,
then each candidate in turn answers "我再考虑一下，薪资能否再谈" through the durable path
(`store_inbound`) and the worker runs until idle — the reply is processed, the HR alert
and the candidate's acknowledgement are delivered. Reported per conversation: SQL
statements (tortoise's SQL log; the harness's own sweeps not counted), arq jobs run, CPU
and wall time. Then all N answer at once and one worker burst handles them (throughput).

End-to-end latency at 100 simultaneous conversations (bench/e2e.py) is about 100 × this
per-conversation cost on one event loop, so this is the figure to cut and to compare
before and after a change. CPU time stays meaningful on a busy machine.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/reply_cost.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backends, cli
from bot import queue
from bot.channels.base import Inbound
from bot.compose import start_runtime
from bot.services.ingest import store_inbound
from bot.storage.models import Alert, Candidate, InboundEvent, Outbox
from bot.usecases import ats

HESITANT = "我再考虑一下，薪资能否再谈"
SQL_LOGGER = "tortoise.db_client"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.paused = False  # the harness's own sweeps and checks are not counted

    def emit(self, record: logging.LogRecord) -> None:
        if not self.paused:
            self.count += 1


COUNTER = _Counter()


async def _run_worker(rt) -> int:
    """Sweep, then a burst worker, until nothing is left; returns the jobs run."""
    from bot.worker import build_worker, sweep_once

    jobs = 0
    for _ in range(200):
        COUNTER.paused = True
        found = await sweep_once(rt)
        queued = sum([await rt.redis.zcard(name) for name in queue.QUEUES])
        idle = not any(found.values()) and queued == 0
        pending = await InboundEvent.filter(status="pending").exists()
        COUNTER.paused = False
        if idle and not pending:
            return jobs
        if idle:  # stored, its job not in Redis yet (enqueued after the commit)
            await asyncio.sleep(0.01)
            continue
        worker = build_worker(rt, burst=True)
        try:
            await worker.async_run()
            jobs += worker.jobs_complete + worker.jobs_failed + worker.jobs_retried
        finally:
            await worker.close()
    raise RuntimeError("worker did not settle")


async def _make_offers(rt, n: int, run: str) -> list[str]:
    """Offers for n candidates reachable on the web platform; returns their web ids."""
    from bot.api_schemas import ApplicationIn, CandidateIn, OfferIn, RequisitionIn

    fx = rt.fx()
    await ats.committed(
        fx, ats.upsert_requisition, RequisitionIn(external_id=f"req-{run}", title="后端工程师")
    )
    users = []
    for k in range(n):
        user = f"cost-{run}-{k}"
        person = CandidateIn(external_id=f"ext-{run}-{k}", name=f"候选人{k}", phone="13800138000")
        cand, _ = await ats.committed(fx, ats.upsert_candidate, person)
        await Candidate.filter(id=cand.id).update(web_id=user)
        app, _ = await ats.committed(
            fx,
            ats.upsert_application,
            ApplicationIn(candidate_id=cand.id, requisition_external_id=f"req-{run}"),
        )
        start = (date.today() + timedelta(days=30)).isoformat()
        offer = OfferIn(application_id=app.id, salary_monthly="25000", start_date=start)
        await ats.committed(fx, ats.create_offer, offer)
        users.append(user)
    return users


def _reply(user: str) -> Inbound:
    return Inbound(platform="web", event_id=uuid.uuid4().hex, sender_id=user, text=HESITANT)


async def run_backend(kind: str, workdir: Path, n: int) -> dict[str, Any]:
    async with backends.backend(kind, workdir) as be:
        rt = await start_runtime(be.settings().replace(company={"quiet_hours": []}), migrate=False)
        counter = COUNTER
        sql_log = logging.getLogger(SQL_LOGGER)
        try:
            users = await _make_offers(rt, 2 * n, uuid.uuid4().hex[:6])
            await _run_worker(rt)  # the offers go out, their timers are armed
            sql_log.setLevel(logging.DEBUG)
            sql_log.propagate = False
            sql_log.addHandler(counter)
            jobs = 0
            wall, cpu, statements = time.perf_counter(), _cpu(), counter.count
            for user in users[:n]:  # one conversation at a time
                await store_inbound(rt, _reply(user))
                jobs += await _run_worker(rt)
            one = {
                "statements": round((counter.count - statements) / n, 1),
                "jobs": round(jobs / n, 1),
                "cpu_ms": round((_cpu() - cpu) / n * 1000, 2),
                "wall_ms": round((time.perf_counter() - wall) / n * 1000, 2),
            }
            wall, cpu = time.perf_counter(), _cpu()
            await asyncio.gather(*(store_inbound(rt, _reply(u)) for u in users[n:]))
            await _run_worker(rt)
            burst = {
                "cpu_ms": round((_cpu() - cpu) / n * 1000, 2),
                "wall_s": round(time.perf_counter() - wall, 2),
            }
            alerts = await Alert.filter(kind="hesitate").count()
            sent = await Outbox.filter(status="sent", recipient_kind="hr_group").count()
        finally:
            sql_log.removeHandler(counter)
            await rt.close()
            queue.stop_embedded_redis()
    return {
        "backend": kind,
        "label": backends.LABELS[kind],
        "conversations": n,
        "one_at_a_time": one,
        "all_at_once": burst,
        "alerts": alerts,
        "hr_messages_sent": sent,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    out = [
        "| set-up | SQL statements | jobs | CPU ms | wall ms "
        "| N at once: CPU ms each | N at once: wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        one, burst = r["one_at_a_time"], r["all_at_once"]
        out.append(
            f"| {r['label']} | {one['statements']} | {one['jobs']} | {one['cpu_ms']} "
            f"| {one['wall_ms']} | {burst['cpu_ms']} | {burst['wall_s']} (N={r['conversations']}) |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser(__doc__, "20 conversations")
    ap.add_argument("--conversations", type=int, default=100)
    args = ap.parse_args(argv)
    n = 20 if args.quick else args.conversations
    cli.run(
        args,
        # One event loop per set-up: each starts from a fresh tortoise and Redis.
        lambda tmp: [asyncio.run(run_backend(k, tmp, n)) for k in cli.kinds(args)],
        markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
