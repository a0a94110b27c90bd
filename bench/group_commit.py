"""The group commit alone: cost of storing one callback, by how many arrive together.

    python -m bench.group_commit [--quick] [--backend sqlite|postgres ...]

In this process with the bot's own runtime, on a database that already holds 100 000
callbacks: rounds of 1, 10 and 50 concurrent `store_inbound` calls (the webhook's whole
database + Redis work), timed in wall-clock and CPU time per stored callback. No HTTP,
no crypto: this isolates the design of bot/services/ingest.py, and CPU time stays
meaningful on a busy machine where latencies do not.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/group_commit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backends, bulk, cli
from bot import queue
from bot.channels.base import Inbound
from bot.compose import start_runtime
from bot.services.ingest import store_inbound

BATCHES = (1, 10, 50)
CALLBACKS = 2_000  # per batch size
HISTORY, QUICK_HISTORY = 100_000, 10_000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_backend(kind: str, workdir: Path, history: int = HISTORY) -> dict[str, Any]:
    async with backends.backend(kind, workdir) as be:
        rt = await start_runtime(be.settings(), migrate=False)
        try:
            await bulk.past_callbacks(history)
            rows = []
            for size in BATCHES:
                rounds = max(1, CALLBACKS // size)
                wall, cpu = time.perf_counter(), _cpu()
                for _ in range(rounds):
                    batch = [
                        Inbound(
                            platform="wecom",
                            event_id=f"msg:gc-{uuid.uuid4().hex}",
                            sender_id=f"bench_u{i}",
                            text="我再考虑一下",
                        )
                        for i in range(size)
                    ]
                    await asyncio.gather(*(store_inbound(rt, item) for item in batch))
                n = rounds * size
                rows.append(
                    {
                        "together": size,
                        "callbacks": n,
                        "wall_us": round((time.perf_counter() - wall) / n * 1e6),
                        "cpu_us": round((_cpu() - cpu) / n * 1e6),
                    }
                )
        finally:
            await rt.close()
            queue.stop_embedded_redis()
    return {"backend": kind, "label": backends.LABELS[kind], "history": history, "rows": rows}


def markdown(results: list[dict[str, Any]]) -> str:
    out = [
        "| set-up | callbacks arriving together | wall µs per callback | CPU µs per callback |",
        "| --- | ---: | ---: | ---: |",
    ]
    for res in results:
        for row in res["rows"]:
            out.append(
                f"| {res['label']} | {row['together']} | {row['wall_us']} | {row['cpu_us']} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__, "10 000 earlier callbacks").parse_args(argv)
    history = QUICK_HISTORY if args.quick else HISTORY
    cli.run(
        args,
        # One event loop per set-up: each starts from a fresh tortoise and Redis.
        lambda tmp: [asyncio.run(run_backend(k, tmp, history)) for k in cli.kinds(args)],
        markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
