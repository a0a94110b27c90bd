"""Benchmark reply understanding.

    python bench/intents.py [--write]          # the learned model on the corpus' test split
    python bench/intents.py --rules [--data tests/intent_sets/intents_labelled.jsonl] [--errors]

Default: the model shipped in the package (or `--model FILE`) and, for comparison, the
rules, on the test split of bot/understanding/labelled (never tuned on): per-intent P/R/F1,
macro-F1, hesitate recall, concerns micro-F1, decision recall, false decisions acted on,
the ask rate and the time per reply. `--write` puts the figures into bench/RESULTS.md,
section "Reply understanding" (see docs/understanding.md for what each figure means).

`--rules`: the rule tables alone on a labelled JSONL file ({"text", "intent",
"concerns"} per line); `evaluate(path)` returns those numbers as a dict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.understanding.rules import CONCERNS, INTENTS, classify_rules  # noqa: E402

DEFAULT_DATA = ROOT / "tests" / "intent_sets" / "intents_labelled.jsonl"
HOLDOUT_DATA = DEFAULT_DATA.with_name("intents_holdout.jsonl")  # never tuned on


def load(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["intent"] not in INTENTS:
                raise ValueError(f"{path}:{n}: unknown intent {row['intent']!r}")
            bad = [c for c in row.get("concerns", []) if c not in CONCERNS]
            if bad:
                raise ValueError(f"{path}:{n}: unknown concerns {bad}")
            rows.append(row)
    return rows


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(path: str | Path = DEFAULT_DATA) -> dict:
    """Classify every row; return metrics (floats in 0..1) and the confusion matrix."""
    rows = load(path)
    start = time.perf_counter()
    preds = [classify_rules(r["text"]) for r in rows]
    elapsed = time.perf_counter() - start

    confusion = {g: dict.fromkeys(INTENTS, 0) for g in INTENTS}
    for r, p in zip(rows, preds, strict=True):
        confusion[r["intent"]][p.intent] += 1
    per_intent = {}
    for i in INTENTS:
        tp = confusion[i][i]
        fp = sum(confusion[g][i] for g in INTENTS if g != i)
        fn = sum(confusion[i][q] for q in INTENTS if q != i)
        p, r, f = _prf(tp, fp, fn)
        per_intent[i] = {"precision": p, "recall": r, "f1": f, "support": tp + fn}
    macro_f1 = sum(v["f1"] for v in per_intent.values()) / len(INTENTS)
    accuracy = sum(confusion[i][i] for i in INTENTS) / len(rows) if rows else 0.0

    ctp = cfp = cfn = 0
    per_concern = {}
    for c in CONCERNS:
        tp = fp = fn = 0
        for r, p in zip(rows, preds, strict=True):
            gold, got = c in r.get("concerns", []), c in p.concerns
            tp += gold and got
            fp += got and not gold
            fn += gold and not got
        ctp, cfp, cfn = ctp + tp, cfp + fp, cfn + fn
        pc, rc, fc = _prf(tp, fp, fn)
        per_concern[c] = {"precision": pc, "recall": rc, "f1": fc, "support": tp + fn}
    cp, cr, cf = _prf(ctp, cfp, cfn)

    errors = [
        {
            "text": r["text"],
            "gold": r["intent"],
            "got": p.intent,
            "gold_concerns": r.get("concerns", []),
            "got_concerns": list(p.concerns),
        }
        for r, p in zip(rows, preds, strict=True)
        if p.intent != r["intent"] or set(p.concerns) != set(r.get("concerns", []))
    ]
    return {
        "data": str(path),
        "rows": len(rows),
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "hesitate_recall": per_intent["hesitate"]["recall"],
        "per_intent": per_intent,
        "concern_micro": {"precision": cp, "recall": cr, "f1": cf},
        "concern_micro_f1": cf,
        "per_concern": per_concern,
        "confusion": confusion,
        "seconds": elapsed,
        "errors": errors,
    }


def report(res: dict) -> str:
    out = [f"data: {res['data']} ({res['rows']} rows, {res['seconds'] * 1000:.1f} ms)", ""]
    out.append(f"{'intent':<10} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>5}")
    for i, v in res["per_intent"].items():
        out.append(
            f"{i:<10} {v['precision']:>6.3f} {v['recall']:>6.3f} {v['f1']:>6.3f} {v['support']:>5}"
        )
    out += [
        "",
        f"accuracy          {res['accuracy']:.3f}",
        f"macro-F1          {res['macro_f1']:.3f}",
        f"hesitate recall   {res['hesitate_recall']:.3f}",
        "concern micro P/R/F1  {precision:.3f} / {recall:.3f} / {f1:.3f}".format(
            **res["concern_micro"]
        ),
        "",
        f"{'concern':<16} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>4}",
    ]
    for c, v in res["per_concern"].items():
        out.append(
            f"{c:<16} {v['precision']:>6.3f} {v['recall']:>6.3f} {v['f1']:>6.3f} {v['support']:>4}"
        )
    out += ["", "confusion (rows = gold, columns = predicted)"]
    out.append(f"{'':<10}" + "".join(f"{i:>10}" for i in INTENTS))
    for g in INTENTS:
        out.append(f"{g:<10}" + "".join(f"{res['confusion'][g][p]:>10}" for p in INTENTS))
    return "\n".join(out)


# -- the learned model on the test split ---------------------------------------------------

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Reply understanding"
TARGETS = (  # (key, label, target, higher is better)
    ("macro_f1", "macro-F1 over the five intents", 0.90, True),
    ("hesitate_recall", "hesitate recall", 0.90, True),
    ("concerns_micro_f1", "concerns micro-F1", 0.85, True),
    ("decision_recall", "decision recall (sure or confirmed)", 0.95, True),
    ("false_decisions_acted", "false decisions acted on (share of replies)", 1 / 200, False),
    ("ask_rate", "decisions the bot asks to confirm", 0.15, False),
)


class _RulesReader:
    """The rules as a reader with the model's interface (always sure)."""

    name = "rules"

    def read(self, text: str):
        from bot.understanding.model import Reading

        c = classify_rules(text)
        return Reading(c.intent, c.concerns, 1.0, True, "rules")


def understanding(model_path: str | None = None) -> dict:
    """Score the model (and the rules) on the corpus' test split; time per reply."""
    from bot.understanding.corpus import load_split
    from bot.understanding.model import IntentModel, shipped_model
    from bot.understanding.training import evaluate as score

    model = IntentModel.load(model_path) if model_path else shipped_model()
    test = load_split("test")
    sizes = {name: len(load_split(name)) for name in ("train", "dev", "test")}
    model.read("warm up")  # jieba's dictionary loads on first use
    reps = max(1, 2000 // max(len(test), 1))
    start = time.perf_counter()
    for _ in range(reps):
        for e in test:
            model.read(e.text)
    per_reply_us = (time.perf_counter() - start) / (reps * max(len(test), 1)) * 1e6
    return {
        "model": model.name,
        "threshold": model.threshold,
        "mix": model.mix,
        "splits": sizes,
        "scores": dict(score(model, test)),
        "rules": dict(score(_RulesReader(), test)),
        "us_per_reply": per_reply_us,
    }


def section(res: dict) -> list[str]:
    """The "Reply understanding" section of bench/RESULTS.md."""
    s, r = res["scores"], res["rules"]
    sp = res["splits"]
    out = [
        SECTION,
        "",
        f"Written by `python bench/intents.py --write`: model `{res['model']}` (decision "
        f"threshold {res['threshold']:.2f}, hesitate cap {res['mix']:.2f}, both chosen on dev) "
        f"on the test split ({sp['test']} replies; train {sp['train']}, dev {sp['dev']}; split "
        "by source, never tuned on). See docs/understanding.md.",
        "",
        "| figure | model | rules | target |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label, target, higher in TARGETS:
        ok = s[key] >= target if higher else s[key] <= target
        tgt = f"{'≥' if higher else '≤'} {target:.3g}"
        out.append(f"| {label} | {s[key]:.3f} | {r[key]:.3f} | {tgt} {'✓' if ok else '✗ missed'} |")
    out += [
        f"| false decisions acted on (count) | {s['false_decisions_count']} | "
        f"{r['false_decisions_count']} | |",
        f"| time per reply (one core, shared machine) | {res['us_per_reply']:.0f} µs | | < 1 ms |",
        "",
        "| intent | precision | recall | F1 | n |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for intent, v in s["per_intent"].items():
        out.append(
            f"| {intent} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} "
            f"| {v['support']} |"
        )
    return out


def write_section(lines: list[str], path: Path = RESULTS) -> None:
    """Replace (or add, before "## Findings") the section in bench/RESULTS.md."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = "\n".join(lines) + "\n\n"
    start = text.find(SECTION + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + block + (text[end + 1 :] if end >= 0 else "")
    else:
        at = text.find("## Findings")
        text = text[:at] + block + text[at:] if at >= 0 else text.rstrip() + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", action="store_true", help="the rules alone on --data")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="labelled JSONL file (--rules)")
    ap.add_argument("--model", help="a model file instead of the shipped one")
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    ap.add_argument("--errors", action="store_true", help="also list misclassified rows")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = ap.parse_args(argv)
    if not args.rules:
        res = understanding(args.model)
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            print("\n".join(section(res)))
        if args.write:
            write_section(section(res))
        return 0
    res = evaluate(args.data)
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "errors"}, indent=2))
    else:
        print(report(res))
    if args.errors:
        print("\nmisclassified (intent or concerns):")
        for e in res["errors"]:
            print(json.dumps(e, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
