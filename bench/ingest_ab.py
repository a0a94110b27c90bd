"""Two source trees' default `serve` and the bare app, interleaved load by load (SQLite).

    python -m bench.ingest_ab --baseline DIR [--rounds N] [--platform wecom|feishu ...]
                              [--before-nice N] [--after-nice N]

A before/after comparison for a machine whose load moves from minute to minute (other
people's test runs): `bench.ingest --default-mode --baseline DIR` measures the two trees
one after the other, minutes apart; here both `serve`s run at once, each on a SQLite +
embedded Redis set-up of its own with the same history, and every load goes to the
baseline's serve, this tree's serve and the bare app in turn (the order rotates from load
to load), the two others frozen (SIGSTOP, with their children) meanwhile, as
`bench.ingest --default-mode` does. Each serve's worker child answers what it
acknowledged through the platform stand-in. Reported per round and as medians: each
serve's req/s, p50/p99 and errors, and its ratio to the bare app's figure taken seconds
apart. Then both serves are SIGKILLed and every acknowledged callback must have its row.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ingest_ab.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench import backends, botconfig, cli, procs
from bench.e2e import frozen
from bench.ingest import DEFAULT_MODE_CAP, DEFAULT_MODE_LOADS, QUICK_HISTORY, _fill_history, send
from bench.payloads import builders
from bench.standin import Standin


async def _measure(
    workdir: Path,
    baseline: Path,
    rounds: int,
    platforms: tuple[str, ...],
    history: int,
    nice: dict[str, int | None],
) -> list[dict[str, Any]]:
    roots = {"before": baseline, "after": procs.ROOT}
    async with contextlib.AsyncExitStack() as stack:
        standin = await Standin().start()
        stack.push_async_callback(standin.close)
        bots: dict[str, procs.Process] = {}
        setups: dict[str, backends.Backend] = {}
        for name, root in roots.items():
            (workdir / name).mkdir()
            be = await stack.enter_async_context(backends.backend("sqlite", workdir / name))
            await _fill_history(be, history)
            port = procs.free_port()
            sections = botconfig.sections(be, port, api_base_url=standin.url)
            if nice.get(name) is not None:  # a tree that knows [worker] serve_worker_nice
                sections["worker"]["serve_worker_nice"] = nice[name]
            config = procs.write_config(workdir / f"{name}.toml", sections)
            bot = procs.serve(config, port, workdir / f"{name}-serve.log", root=root)
            stack.callback(procs.stop_embedded_redis, be.data_dir)
            stack.callback(bot.stop, kill=True)
            bot.start()
            bots[name], setups[name] = bot, be
        bare = procs.bare(procs.free_port(), workdir / "bare.log")
        stack.callback(bare.stop)
        bare.start()
        await asyncio.sleep(1.0)
        targets = {**bots, "bare": bare}
        acked: dict[str, list[str]] = {name: [] for name in bots}
        rows: list[dict[str, Any]] = []
        turn = 0
        for rnd in range(1, rounds + 1):
            for platform in platforms:
                for load in DEFAULT_MODE_LOADS:
                    names = list(targets)
                    names = names[turn % 3 :] + names[: turn % 3]  # rotate the order
                    turn += 1
                    got = {}
                    for name in names:
                        proc = targets[name]
                        callbacks = builders(proc.url)[platform].batch(
                            min(load.count, DEFAULT_MODE_CAP)
                        )
                        with contextlib.ExitStack() as hold:
                            for other in targets.values():
                                if other is not proc:
                                    hold.enter_context(frozen(other.pid))
                            before = _cpu(proc.pid)
                            res = await send(load, callbacks, f"{platform} {load.label}")
                            after = _cpu(proc.pid)
                        got[name] = res.row() | {
                            # CPU seconds per second of load: serve itself, its worker child
                            f"{part}_cpu": round((after[part] - before[part]) / res.elapsed, 2)
                            for part in ("serve", "child")
                        }
                        if name in acked:
                            acked[name] += [callbacks[i].event_id for i in res.acked]
                    rows.append(
                        {"round": rnd, "platform": platform, "load": load.label, "order": names}
                        | {name: got[name] for name in targets}
                    )
                    print(_line(rows[-1]), file=sys.stderr, flush=True)
        durability = {}
        for name, bot in bots.items():
            bot.stop(kill=True)
            stored = {
                r[0]
                for r in await setups[name].rows("SELECT event_id FROM inbound_event")
                if not r[0].startswith("msg:bench-")
            }
            durability[name] = {
                "acknowledged": len(acked[name]),
                "acknowledged_missing": len(set(acked[name]) - stored),
            }
    return [{"rows": rows, "durability": durability}]


def _cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of a process and of its worker child (not its Redis)."""
    proc = psutil.Process(pid)
    t = proc.cpu_times()
    child = 0.0
    for kid in proc.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if "bot.child_worker" in " ".join(kid.cmdline()):
                c = kid.cpu_times()
                child += c.user + c.system
    return {"serve": t.user + t.system, "child": child}


def _per_ack(r: dict[str, Any]) -> float:
    return r["serve_cpu"] * 1000 / r["req_per_s"] if r["req_per_s"] else float("nan")


def _ratio(row: dict[str, Any], name: str) -> float:
    bare = row["bare"]["req_per_s"]
    return row[name]["req_per_s"] / bare if bare else 0.0


def _line(row: dict[str, Any]) -> str:
    parts = [f"round {row['round']} {row['platform']} {row['load']}:"]
    for name in ("before", "after"):
        r = row[name]
        parts.append(
            f"{name} {r['req_per_s']:.0f} req/s p50 {r['p50_ms']} p99 {r['p99_ms']} "
            f"err {r['errors']} ({_ratio(row, name):.0%}) cpu {r['serve_cpu']}/{r['child_cpu']};"
        )
    b = row["bare"]
    parts.append(f"bare {b['req_per_s']:.0f} req/s p99 {b['p99_ms']} cpu {b['serve_cpu']}")
    return " ".join(parts)


def markdown(results: list[dict[str, Any]]) -> str:
    res = results[0]
    out = [
        "| platform | load | serve | rounds | req/s | p50 ms | p99 ms | errors | bare req/s "
        "| ratio (median) | ratio each round | CPU s/s: serve / child | serve CPU ms per ack |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    keys = sorted({(r["platform"], r["load"]) for r in res["rows"]})
    for platform, load in keys:
        rows = [r for r in res["rows"] if (r["platform"], r["load"]) == (platform, load)]
        for name in ("before", "after"):

            def med(field: str, who: str = name, rows: list = rows) -> float:
                return statistics.median(r[who][field] for r in rows)

            ratios = [_ratio(r, name) for r in rows]
            out.append(
                f"| {platform} | {load} | {name} | {len(rows)} | {med('req_per_s'):,.0f} "
                f"| {med('p50_ms'):.0f} | {med('p99_ms'):.0f} | {med('errors'):.0f} "
                f"| {med('req_per_s', 'bare'):,.0f} | {statistics.median(ratios):.0%} "
                f"| {' '.join(f'{x:.0%}' for x in ratios)} "
                f"| {med('serve_cpu'):.2f} / {med('child_cpu'):.2f} "
                f"(bare {med('serve_cpu', 'bare'):.2f}) "
                f"| {statistics.median(_per_ack(r[name]) for r in rows):.2f} "
                f"(bare {statistics.median(_per_ack(r['bare']) for r in rows):.2f}) |"
            )
    d = res["durability"]
    out += [
        "",
        "Durability after SIGKILL: "
        + "; ".join(
            f"{name} {v['acknowledged']:,} acknowledged, {v['acknowledged_missing']} missing"
            for name, v in d.items()
        ),
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser(__doc__, "unused (the loads are the default mode's two)")
    ap.add_argument("--baseline", type=Path, required=True, help="the source tree before")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--platform", action="append", choices=("wecom", "feishu"))
    ap.add_argument("--before-nice", type=int, help="[worker] serve_worker_nice, before")
    ap.add_argument("--after-nice", type=int, help="[worker] serve_worker_nice, after")
    args = ap.parse_args(argv)
    nice = {"before": args.before_nice, "after": args.after_nice}
    platforms = tuple(args.platform or ("wecom", "feishu"))
    cli.run(
        args,
        lambda tmp: asyncio.run(
            _measure(tmp, args.baseline, args.rounds, platforms, QUICK_HISTORY, nice)
        ),
        markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
