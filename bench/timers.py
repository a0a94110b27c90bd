"""Timers at scale: 100 000 offers, their timers spread over the coming month.

    python -m bench.timers [--quick] [--backend sqlite|postgres ...]

On a database built by the real migrations and bulk-loaded (bench/bulk.py), in this
process with the bot's own runtime:
1. one sweeper pass (`bot.worker.sweep_once`) with nothing due, several times;
2. the query plans of the hot paths, captured while they run for real: the group commit
   of callbacks, `process_inbound` of a hesitant reply, `deliver`, `fire_timer`, a sweep;
3. 1 000 reminder timers made due: one sweeper pass that finds them, then the real arq
   worker (`build_worker`, 20 jobs at a time) fires them all; the reminders go out to the
   WeCom stand-in. Timed until every timer is done and every reminder has arrived.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/timers.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backends, botconfig, bulk, cli, plans, procs
from bench.e2e import HESITANT
from bench.standin import Standin
from bot import queue
from bot.channels.base import Inbound
from bot.compose import start_runtime
from bot.config import load_settings
from bot.runtime import Runtime
from bot.services.ingest import store_inbound
from bot.storage.models import Outbox, Timer
from bot.worker import build_worker, deliver, fire_timer, process_inbound, sweep_once

OFFERS, QUICK_OFFERS = 100_000, 10_000
FIRE, QUICK_FIRE = 1_000, 200
SWEEPS = 5


async def _timed(coro) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await coro
    return (time.perf_counter() - started) * 1000, result


async def hot_paths(rt: Runtime, reply_offer: int, timer_offer: int) -> dict[str, list]:
    """Run each hot path once for real and capture its statements: a hesitant reply about
    `reply_offer`, the reminder of `timer_offer`."""
    ctx = {"rt": rt}
    sections: dict[str, list] = {}
    fresh = [
        Inbound(platform="wecom", event_id=f"msg:plan-{i}", sender_id=f"bench_plan_{i}", text="hi")
        for i in range(3)
    ]
    with plans.capture() as sections["Ingest: group commit of callbacks (store_inbound)"]:
        await asyncio.gather(*(store_inbound(rt, i) for i in [*fresh, fresh[0]]))
        await store_inbound(rt, fresh[1])  # a platform's retry: the duplicate lookup
    user = f"bench_u{reply_offer - 1}"
    reply = Inbound(platform="wecom", event_id="msg:plan-hesitant", sender_id=user, text=HESITANT)
    inbound_id, _ = await store_inbound(rt, reply)
    with plans.capture() as sections["Worker: process_inbound (a hesitant reply)"]:
        await process_inbound(ctx, inbound_id)
    queued = await Outbox.filter(status="pending").order_by("id").values_list("id", flat=True)
    with plans.capture() as sections["Worker: deliver (outbox claim, send, delivered)"]:
        for outbox_id in queued:
            await deliver(ctx, outbox_id)
    timer = await Timer.get(offer_id=timer_offer, kind="offer_remind")
    await Timer.filter(id=timer.id).update(due_at=rt.clock() - timedelta(seconds=1))
    with plans.capture() as sections["Worker: fire_timer (timer claim, reminder)"]:
        await fire_timer(ctx, timer.id)
    with plans.capture() as sections["Sweeper pass (sweep_once)"]:
        await sweep_once(rt)
    return sections


async def fire_many(rt: Runtime, standin: Standin, offer_ids: list[int]) -> dict[str, float]:
    """Make the reminders of `offer_ids` due now; time a sweep, then the worker firing them."""
    now = rt.clock()
    await Timer.filter(offer_id__in=offer_ids, kind="offer_remind").update(
        due_at=now - timedelta(seconds=1)
    )
    sweep_ms, found = await _timed(sweep_once(rt))
    # What fx.flush() does for timers due soon: one job each, deferred to due_at.
    ids = await Timer.filter(offer_id__in=offer_ids, kind="offer_remind").values_list(
        "id", flat=True
    )
    for timer_id in ids:
        await rt.enqueuer.timer(timer_id)
    users = {f"bench_u{k - 1}" for k in offer_ids}
    first_arrival = len(standin.arrivals)

    def reminders() -> int:
        return sum(1 for a in standin.arrivals[first_arrival:] if a.to in users)

    # A burst worker: the real jobs, 20 at a time, until the queue is empty (the
    # deliveries the timers queue included).
    worker = build_worker(rt, burst=True)
    started = time.perf_counter()
    task = asyncio.create_task(worker.async_run())
    try:
        while await Timer.filter(id__in=ids, status="done").count() < len(ids):
            if task.done() or time.perf_counter() - started > 300:
                raise RuntimeError("the worker stopped before every timer fired")
            await asyncio.sleep(0.05)
        fired_s = time.perf_counter() - started
        await standin.wait_until(lambda: reminders() >= len(ids), 300)
        delivered_s = time.perf_counter() - started
        await asyncio.wait_for(task, 300)
    finally:
        await worker.close()
    return {
        "due": len(ids),
        "sweep_with_due_ms": round(sweep_ms, 1),
        "sweep_found": found["timers"],
        "fired_s": round(fired_s, 2),
        "delivered_s": round(delivered_s, 2),
        "reminders_arrived": reminders(),
        "timers_per_s": round(len(ids) / fired_s, 1),
    }


async def run_backend(
    kind: str, workdir: Path, offers: int = OFFERS, fire: int = FIRE
) -> dict[str, Any]:
    async with backends.backend(kind, workdir) as be:
        standin = await Standin().start()
        path = botconfig.write(
            workdir / f"timers-{kind}.toml",
            be,
            procs.free_port(),
            platforms=("wecom",),
            api_base_url=standin.url,
        )
        rt = await start_runtime(load_settings(str(path)), migrate=False)
        try:
            load_s, counts = await _timed(bulk.load(offers))
            quiet = [(await _timed(sweep_once(rt)))[0] for _ in range(SWEEPS)]
            waiting = bulk.waiting_offer_ids(offers)
            sections = await hot_paths(rt, waiting[-1], waiting[-2])
            table_rows = await plans.explain([st for s in sections.values() for st in s])
            await rt.redis.flushdb()  # the jobs the hot paths queued are done already
            fired = await fire_many(rt, standin, waiting[:fire])
        finally:
            await rt.close()
            await standin.close()
            queue.stop_embedded_redis()
    return {
        "backend": kind,
        "label": backends.LABELS[kind],
        "offers": offers,
        "rows": table_rows,
        "load_s": round(load_s / 1000, 1),
        "sweep_ms": [round(x, 1) for x in quiet],
        "sweep_median_ms": round(statistics.median(quiet), 1),
        "fire": fired,
        "schema": be.schema,
        "plans": plans.markdown(sections, table_rows),
        "scans": sorted(
            {(title, st.sql) for title, sts in sections.items() for st in sts if st.scans}
        ),
    }


async def run(
    workdir: Path, *, quick: bool = False, kinds: tuple[str, ...] = backends.KINDS
) -> list[dict[str, Any]]:
    offers, fire = (QUICK_OFFERS, QUICK_FIRE) if quick else (OFFERS, FIRE)
    return [await run_backend(kind, workdir, offers, fire) for kind in kinds]


def markdown(results: list[dict[str, Any]]) -> str:
    out = [
        "| set-up | offers | timer rows | sweeper pass (median of 5) | sweep with timers due "
        "| the worker fires them | their reminders delivered |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for res in results:
        f = res["fire"]
        out.append(
            f"| {res['label']} | {res['offers']:,} | {res['rows'].get('timer', 0):,} "
            f"| {res['sweep_median_ms']} ms ({', '.join(map(str, res['sweep_ms']))}) "
            f"| {f['sweep_with_due_ms']} ms ({f['due']:,} due, {f['sweep_found']} enqueued) "
            f"| {f['fired_s']} s ({f['timers_per_s']}/s) | {f['delivered_s']} s "
            f"({f['reminders_arrived']}/{f['due']}) |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser(__doc__, "10 000 offers, 200 timers")
    ap.add_argument("--plans", action="store_true", help="also print the query plans")
    args = ap.parse_args(argv)
    results = cli.run(
        args, lambda tmp: asyncio.run(run(tmp, quick=args.quick, kinds=cli.kinds(args))), markdown
    )
    for res in results:
        if args.plans:
            print(f"### {res['label']}\n\n{res['plans']}")
        print(json.dumps({"backend": res["backend"], "scans": res["scans"]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
