"""Every benchmark in one command; rewrites bench/RESULTS.md with the figures, the machine
and the date.

    python bench/run_all.py            # everything, both set-ups (about 5 minutes)
    python bench/run_all.py --quick    # smoke run: SQLite only, short loads (about 1 minute)

Each benchmark runs per database set-up in a subprocess of its own (tortoise keeps one
backend per process) and hands its figures back as JSON; a benchmark that fails is
reported as failed in RESULTS.md, and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run_all.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import psutil
import redis.asyncio as aioredis

from bench import (
    backends,
    door,
    e2e,
    feishu_ws,
    group_commit,
    ingest,
    intents,
    reply_cost,
    report,
    timers,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
STEP_TIMEOUT = 300  # seconds one benchmark on one set-up may take


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "sqlite": sqlite3.sqlite_version,
        "postgres": asyncio.run(_pg_version()),
        "redis": asyncio.run(_redis_version()),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


async def _pg_version() -> str:
    try:
        conn = await asyncpg.connect(backends.PG_ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"unavailable ({type(exc).__name__})"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _redis_version() -> str:
    client = aioredis.from_url(backends.REDIS_URL)
    try:
        return str((await client.info("server"))["redis_version"])
    except (OSError, aioredis.RedisError) as exc:
        return f"unavailable ({type(exc).__name__})"
    finally:
        await client.aclose()


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def step(name: str, kind: str, workdir: Path, extra: list[str]) -> dict[str, Any]:
    """Run `python -m bench.<name> --backend <kind>`; its JSON results, or the failure."""
    out = workdir / f"{name}-{kind}.json"
    log = workdir / f"{name}-{kind}.log"
    argv = [sys.executable, "-m", f"bench.{name}", "--backend", kind, "--json-out", str(out)]
    started = time.perf_counter()
    print(f"· {name} on {kind} ...", end=" ", flush=True)
    with open(log, "wb") as sink:
        try:
            code = subprocess.run(
                argv + extra, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                timeout=STEP_TIMEOUT,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            code = "timeout"
    seconds = round(time.perf_counter() - started, 1)
    print(f"{seconds} s" + ("" if code == 0 else f" FAILED ({code})"), flush=True)
    if code == 0 and out.exists():
        return {"ok": True, "seconds": seconds, "results": json.loads(out.read_text())}
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    return {"ok": False, "seconds": seconds, "error": f"exit {code}", "log": tail}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="SQLite only, short loads (~1 min)")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated: ingest,feishu_ws,door,group_commit,e2e,reply_cost,timers,intents",
    )
    ap.add_argument("--out", default=str(RESULTS), help="where to write the results")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    kinds = ("sqlite",) if args.quick else backends.KINDS
    extra = ["--quick"] if args.quick else []
    started_at = datetime.now().astimezone()
    started = time.perf_counter()
    info = machine()
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="offerbot-bench-") as tmp:
        # feishu_ws: the webhook and the long connection on one serve, in the same run
        for name in ("ingest", "feishu_ws", "door", "group_commit", "e2e", "reply_cost", "timers"):
            if name in skip:
                continue
            e2e_extra = ["--platform", "wecom"] if args.quick and name == "e2e" else []
            runs[name] = {kind: step(name, kind, Path(tmp), extra + e2e_extra) for kind in kinds}
    classifier = None
    if "intents" not in skip:
        classifier = {
            "labelled": intents.evaluate(intents.DEFAULT_DATA),
            "holdout": intents.evaluate(intents.HOLDOUT_DATA),
        }
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    minutes = (time.perf_counter() - started) / 60
    text = report.render(
        runs=runs,
        classifier=classifier,
        machine=info,
        started_at=started_at,
        minutes=minutes,
        quick=args.quick,
        markdown={
            "ingest": ingest.markdown,
            "feishu_ws": feishu_ws.markdown,
            "door": door.markdown,
            "group_commit": group_commit.markdown,
            "e2e": e2e.markdown,
            "reply_cost": reply_cost.markdown,
            "timers": timers.markdown,
        },
    )
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({minutes:.1f} min)")
    failed = [f"{n}/{k}" for n, by in runs.items() for k, r in by.items() if not r["ok"]]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
