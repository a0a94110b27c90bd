"""Webhook ingest: `offerbot serve` against the bare aiohttp app, in the same run.

    python -m bench.ingest [--quick] [--backend sqlite|postgres ...]
                           [--default-mode] [--platform wecom|feishu ...] [--baseline DIR]

For each database set-up: fill the database with 100 000 earlier callbacks (a bot that
has run for a while: the de-duplication lookups must stay index lookups), start
`offerbot serve --no-worker` (temp config, WeCom and Feishu enabled, platform API on a
closed port — ingest never calls it) and the bare app;
send encrypted, signed WeCom and Feishu text callbacks, each with a unique message id, at
fixed rates and at full speed, alternating bot and bare app load by load. Then SIGKILL
the server and count, on a connection of our own, that every acknowledged callback has
its row (and that forged ones have none).

The worker is off so the figures are the HTTP path alone (verify, decrypt, group commit,
one Redis round trip per batch); `e2e.py` runs serve with its worker.

`--default-mode`: `serve` as it runs by default (its worker in a child process, busy with
what it acknowledges: every callback is a new user's message, answered through the
platform stand-in of bench/standin.py), at 1 000 req/s and full speed; bot and bare app
each frozen (SIGSTOP, with its children) while the other is measured, as bench/e2e.py
does. `--baseline DIR` runs another source tree's `serve` first (e.g. `git archive main |
tar -x -C DIR`), on a fresh set-up, in the same run: before and after side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tortoise import Tortoise

from bench import backends, botconfig, bulk, cli, loadgen, procs
from bench.payloads import Callback, builders, with_bad_signature
from bot.storage import db

FULL_SPEED_CAP = 60_000  # requests built for a full-speed run (it stops on time first)
FORGED = 50  # callbacks with a bad signature sent to the bot: none may be stored
HISTORY, QUICK_HISTORY = 100_000, 10_000  # callbacks already in the database


@dataclass(frozen=True)
class Load:
    kind: str  # "rate" (open loop, req/s) or "full" (closed loop, connections)
    value: int
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.value} req/s" if self.kind == "rate" else f"full speed, {self.value} conn"

    @property
    def count(self) -> int:
        return int(self.value * self.seconds) if self.kind == "rate" else FULL_SPEED_CAP


LOADS = (Load("rate", 200, 3), Load("rate", 500, 3), Load("rate", 1000, 4), Load("full", 50, 4))
QUICK_LOADS = (Load("rate", 200, 1), Load("rate", 1000, 1.5), Load("full", 50, 1.5))
DEFAULT_MODE_LOADS = (Load("rate", 1000, 4), Load("full", 50, 4))  # the two targets
DEFAULT_MODE_CAP = 25_000  # callbacks built per full-speed load in the default mode


async def send(load: Load, callbacks: list[Callback], label: str) -> loadgen.Result:
    def make(i: int):
        return callbacks[i].request

    if load.kind == "rate":
        return await loadgen.fixed_rate(
            label, make, rate=load.value, count=len(callbacks), max_seconds=load.seconds
        )
    return await loadgen.full_speed(
        label, make, connections=load.value, count=len(callbacks), max_seconds=load.seconds
    )


async def _forged(url: str) -> tuple[loadgen.Result, list[str]]:
    """Callbacks with a bad signature: each must be refused (4xx) and leave nothing."""
    good = [cb for b in builders(url).values() for cb in b.batch(FORGED // 2)]
    bad = [with_bad_signature(cb) for cb in good]
    res = await loadgen.full_speed(
        "forged", lambda i: bad[i], connections=5, count=len(bad), max_seconds=10
    )
    return res, [cb.event_id for cb in good]


async def _fill_history(be: backends.Backend, n: int) -> None:
    await Tortoise.init(config=db.tortoise_config(be.settings()))
    try:
        await bulk.past_callbacks(n)
    finally:
        await Tortoise.close_connections()


async def run_backend(
    kind: str,
    workdir: Path,
    loads: tuple[Load, ...] = LOADS,
    platforms: tuple[str, ...] = ("wecom", "feishu"),
    history: int = HISTORY,
    *,
    worker: bool = False,
    root: Path = procs.ROOT,
) -> dict[str, Any]:
    """Every load against bot and bare app on one set-up; rows, memory and durability.
    `worker`: the default serve (worker child, answering through a stand-in), each of
    bot and bare app frozen while the other is measured."""
    from bench.e2e import frozen  # noqa: PLC0415 - e2e imports this module
    from bench.standin import Standin  # noqa: PLC0415

    async with backends.backend(kind, workdir) as be:
        await _fill_history(be, history)
        standin = await Standin().start() if worker else None
        port = procs.free_port()
        api = standin.url if standin else procs.closed_port_url()
        config = botconfig.write(workdir / f"ingest-{kind}.toml", be, port, api_base_url=api)
        bot = procs.serve(
            config, port, workdir / f"ingest-{kind}-serve.log", worker=worker, root=root
        )
        base = procs.bare(procs.free_port(), workdir / f"ingest-{kind}-bare.log")
        bot.start()
        try:
            base.start()
            await asyncio.sleep(1.0)  # let start-up settle before measuring idle memory
            idle_mb = bot.rss_mb()
            rows: list[dict[str, Any]] = []
            acked: list[str] = []
            with procs.RssSampler(bot.pid) as rss:
                for platform in platforms:
                    for load in loads:
                        pair: dict[str, loadgen.Result] = {}
                        for target, proc, other in (("offerbot", bot, base), ("bare", base, bot)):
                            count = min(load.count, DEFAULT_MODE_CAP) if worker else load.count
                            callbacks = builders(proc.url)[platform].batch(count)
                            hold = frozen(other.pid) if worker else contextlib.nullcontext()
                            with hold:
                                res = await send(load, callbacks, f"{platform} {load.label}")
                            pair[target] = res
                            if target == "offerbot":
                                acked += [callbacks[i].event_id for i in res.acked]
                        rows.append(_row(kind, platform, load, pair))
                forged, forged_ids = await _forged(bot.url)
            peak_mb = rss.peak_mb
        finally:
            # Durability: no graceful shutdown may help; the count happens after a crash.
            bot.stop(kill=True)
            base.stop()
            if standin is not None:
                await standin.close()
            procs.stop_embedded_redis(be.data_dir)
        stored = [
            r[0]
            for r in await be.rows("SELECT event_id FROM inbound_event")
            if not r[0].startswith("msg:bench-")  # the history filled in before
        ]
    stored_set, acked_set = set(stored), set(acked)
    return {
        "backend": kind,
        "label": backends.LABELS[kind]
        + (", default serve" if worker else "")
        + ("" if root == procs.ROOT else f" ({root.name})"),
        "history": history,
        "schema": be.schema,
        "rows": rows,
        "rss_idle_mb": round(idle_mb, 1),
        "rss_peak_mb": round(peak_mb, 1),
        "durability": {
            "acknowledged": len(acked),
            "rows_in_database": len(stored),
            "acknowledged_missing": len(acked_set - stored_set),
            # answered with an error (e.g. a client timeout) yet stored: harmless, the
            # platform's retry is then a duplicate and is recognised as one
            "stored_not_acknowledged": len(stored_set - acked_set - set(forged_ids)),
            "duplicates": len(stored) - len(stored_set),
            "forged_sent": forged.sent,
            "forged_refused": sum(n for s, n in forged.statuses.items() if 400 <= s < 500),
            "forged_stored": len(stored_set & set(forged_ids)),
        },
    }


def _row(kind: str, platform: str, load: Load, pair: dict[str, loadgen.Result]) -> dict:
    bot, bare = pair["offerbot"].row(), pair["bare"].row()
    ratio = bot["req_per_s"] / bare["req_per_s"] if bare["req_per_s"] else 0.0
    return {
        "backend": kind,
        "platform": platform,
        "load": load.label,
        "kind": load.kind,
        "rate": load.value if load.kind == "rate" else None,
        "offerbot": bot,
        "bare": bare,
        "ratio": round(ratio, 3),
    }


async def run(
    workdir: Path,
    *,
    quick: bool = False,
    kinds: tuple[str, ...] = backends.KINDS,
    platforms: tuple[str, ...] = ("wecom", "feishu"),
    worker: bool = False,
    baseline: Path | None = None,
) -> list[dict[str, Any]]:
    loads, history = (QUICK_LOADS, QUICK_HISTORY) if quick else (LOADS, HISTORY)
    if worker:
        loads = DEFAULT_MODE_LOADS
    roots = ([baseline] if baseline else []) + [procs.ROOT]
    return [
        await run_backend(kind, workdir, loads, platforms, history, worker=worker, root=root)
        for kind in kinds
        for root in roots
    ]


# -- report -------------------------------------------------------------------------------


def markdown(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        out += [
            f"#### {res['label']} ({res['history']:,} earlier callbacks in the database)",
            "",
            "| platform | load | offerbot req/s | p50 ms | p95 ms | p99 ms | errors "
            "| bare req/s | bare p99 ms | ratio |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in res["rows"]:
            b, x = row["offerbot"], row["bare"]
            out.append(
                f"| {row['platform']} | {row['load']} | {b['req_per_s']:,.0f} | {b['p50_ms']} "
                f"| {b['p95_ms']} | {b['p99_ms']} | {b['errors']} | {x['req_per_s']:,.0f} "
                f"| {x['p99_ms']} | {row['ratio']:.0%} |"
            )
        d = res["durability"]
        verdict = "all durable" if d["acknowledged_missing"] == 0 else "**LOST ROWS**"
        out += [
            "",
            f"Durability (counted after SIGKILL): {d['acknowledged']:,} acknowledged, "
            f"{d['rows_in_database']:,} rows, {d['acknowledged_missing']} acknowledged "
            f"but missing, {d['stored_not_acknowledged']} stored but answered with an error, "
            f"{d['duplicates']} duplicates — {verdict}. Forged signatures: "
            f"{d['forged_refused']}/{d['forged_sent']} refused with 4xx, "
            f"{d['forged_stored']} stored. Serve RSS: "
            f"{res['rss_idle_mb']} MB idle, {res['rss_peak_mb']} MB peak under load.",
            "",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser(__doc__, "short loads (smoke run)")
    ap.add_argument("--platform", action="append", choices=("wecom", "feishu"))
    ap.add_argument("--default-mode", action="store_true", help="serve with its worker child")
    ap.add_argument("--baseline", type=Path, help="also run this source tree's serve, first")
    args = ap.parse_args(argv)
    platforms = tuple(args.platform or ("wecom", "feishu"))

    def measure(tmp: Path) -> list[dict[str, Any]]:
        return asyncio.run(
            run(
                tmp,
                quick=args.quick,
                kinds=cli.kinds(args),
                platforms=platforms,
                worker=args.default_mode,
                baseline=args.baseline,
            )
        )

    cli.run(args, measure, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
