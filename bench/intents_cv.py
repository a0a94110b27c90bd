"""Leave-sources-out cross-validation of the reply model on the TRAIN split, plus dev.

    python bench/intents_cv.py [--folds 5] [--c-intent 20] [--c-concern 30]
        [--hesitate-bias 0] [--same-sources OLD_CORPUS_DIR] [--json FILE] [--dump FILE]

The selection signal for model and corpus choices (docs/understanding.md, "Grouped
cross-validation"). It never reads the test split.

- The train sources are cut into `--folds` groups by source (every reply of a source,
  variants included, falls in one fold). A source's fold is a hash of its id, so adding
  sources never moves the old ones: runs before and after a corpus change compare on the
  same folds, and `--same-sources DIR` scores only the train sources of an older corpus
  copy (apples to apples). For each fold a model is fitted on the
  other folds with the training pipeline's own `_fit` (features, vocabulary, both layers,
  temperature and Platt calibration on inner folds grouped by source), and it reads the
  held-out fold.
- The decision rule (threshold, hesitate cap, margin) and the concern cut for fold k are
  chosen with the pipeline's own `_choose_threshold` / `_choose_concern_cut` on the held-out
  reads of the OTHER folds (a cross-fitted approximation of the shipped pipeline, which
  chooses them on held-out train reads plus dev: it costs one fit per fold instead of five,
  and fold k's own reads never choose its knobs).
- Dev: a model fitted on all of train reads dev; its knobs are chosen on all the held-out
  train reads (as the shipped pipeline would, less dev itself).

Figures, pooled over the held-out folds, are the targets' figures: macro-F1, hesitate
recall, concerns micro-F1, decision recall, false decisions acted on, ask rate; plus the
weakest sources and the commonest confusions (train sources only) to aim new data at.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.understanding import rules, training  # noqa: E402
from bot.understanding.corpus import DATA_DIR, load_split, splits  # noqa: E402
from bot.understanding.model import DECISIONS  # noqa: E402
from bot.vocab import CONCERNS, INTENTS  # noqa: E402

HES = INTENTS.index("hesitate")


def _raw_reads(model, examples) -> list[dict]:
    """Per example: the rules' certain reading if any, else the model's probabilities."""
    out = []
    for e in examples:
        certain = rules.certain_rule(e.text)
        if certain is not None:
            read, _ = certain
            out.append({"e": e, "rule": (read.intent, tuple(read.concerns))})
            continue
        p, pc, _i, _v = model.probabilities(e.text)
        out.append({"e": e, "rule": None, "p": p, "pc": pc})
    return out


def _as_tuned(r: dict) -> tuple:
    """The `training._reads` shape of a raw read (for choosing the knobs)."""
    e = r["e"]
    if r["rule"] is not None:
        return None
    p = r["p"]
    got = INTENTS[int(np.argmax(p))]
    return (got, float(p.max()), float(p[HES]), e.intent, r["pc"], frozenset(e.concerns))


def _knobs(raw: list[dict]) -> tuple[float, float, float, float]:
    tuned = [t for t in map(_as_tuned, raw) if t is not None]
    threshold, mix, margin = training._choose_threshold(tuned)
    return threshold, mix, margin, training._choose_concern_cut(tuned)


def _decide(r: dict, knobs) -> tuple[str, set, bool]:
    """(intent, concerns, sure) as IntentModel.read would give with these knobs."""
    if r["rule"] is not None:
        return r["rule"][0], set(r["rule"][1]), True
    threshold, mix, margin, cut = knobs
    p = r["p"]
    k = int(np.argmax(p))
    intent = INTENTS[k]
    concerns = {c for c, q in zip(CONCERNS, r["pc"], strict=True) if q >= round(cut, 3)}
    sure = True
    if intent in DECISIONS:
        hes = p[HES]
        sure = bool(p[k] >= threshold and hes < mix and p[k] - hes >= margin)
    return intent, concerns, sure


def score(decided: list[tuple]) -> dict:
    """Figures over (example, intent, concerns, sure) rows (as training.evaluate)."""
    per = {}
    for i in INTENTS:
        tp = sum(got == i and e.intent == i for e, got, _c, _s in decided)
        fp = sum(got == i and e.intent != i for e, got, _c, _s in decided)
        fn = sum(got != i and e.intent == i for e, got, _c, _s in decided)
        p, r_, f = training._prf(tp, fp, fn)
        per[i] = {"precision": p, "recall": r_, "f1": f, "support": tp + fn}
    ctp = cfp = cfn = 0
    for e, _got, cs, _s in decided:
        gold = set(e.concerns)
        ctp, cfp, cfn = ctp + len(cs & gold), cfp + len(cs - gold), cfn + len(gold - cs)
    gold_dec = [(e, got) for e, got, _c, _s in decided if e.intent in DECISIONS]
    read_dec = [(e, got, s) for e, got, _c, s in decided if got in DECISIONS]
    false_acted = sum(s and got != e.intent for e, got, s in read_dec)
    n = len(decided)
    return {
        "n": n,
        "macro_f1": sum(v["f1"] for v in per.values()) / len(INTENTS),
        "hesitate_recall": per["hesitate"]["recall"],
        "concerns_micro_f1": training._prf(ctp, cfp, cfn)[2],
        "decision_recall": sum(got == e.intent for e, got in gold_dec) / max(len(gold_dec), 1),
        "false_decisions_acted": false_acted / n if n else 0.0,
        "false_decisions_count": false_acted,
        "ask_rate": sum(not s for _e, _g, s in read_dec) / max(len(read_dec), 1),
        "per_intent": per,
    }


FIGURES = [
    ("macro_f1", "macro-F1", "≥ 0.90"),
    ("hesitate_recall", "hesitate recall", "≥ 0.90"),
    ("concerns_micro_f1", "concerns micro-F1", "≥ 0.85"),
    ("decision_recall", "decision recall", "≥ 0.95"),
    ("false_decisions_acted", "false decisions acted on", "≤ 0.005"),
    ("ask_rate", "ask rate", "≤ 0.15"),
]


def fold_of(source: str, folds: int) -> int:
    """A source's fold: stable under adding or removing other sources."""
    return int(hashlib.sha256(source.encode()).hexdigest(), 16) % folds


def run(
    folds: int = 5,
    data_dir: Path = DATA_DIR,
    same_sources: set | None = None,
    dump: str | None = None,
) -> dict:
    train = load_split("train", data_dir)
    dev = load_split("dev", data_dir)
    groups = [e.source for e in train]
    decided: list[tuple] = []
    raws: list[list[dict]] = []
    t0 = time.perf_counter()
    for k in range(folds):
        tr = [i for i, g in enumerate(groups) if fold_of(g, folds) != k]
        te = [i for i, g in enumerate(groups) if fold_of(g, folds) == k]
        model = training._biased(training._fit([train[i] for i in tr]))
        raws.append(_raw_reads(model, [train[i] for i in te]))
        print(f"fold {k + 1}/{folds} fitted ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    fold_knobs = []
    for k in range(folds):
        knobs = _knobs([r for j, raw in enumerate(raws) if j != k for r in raw])
        fold_knobs.append(knobs)
        decided += [(r["e"], *_decide(r, knobs)) for r in raws[k]]
    cv = score(decided)
    full = training._biased(training._fit(train))
    knobs = _knobs([r for raw in raws for r in raw])
    dev_decided = [(r["e"], *_decide(r, knobs)) for r in _raw_reads(full, dev)]
    # where the held-out errors are: by source and by confusion
    by_source: dict[str, list[int]] = {}
    conf = Counter()
    for e, got, _c, _s in decided:
        s = by_source.setdefault(e.source, [0, 0])
        s[0] += got == e.intent
        s[1] += 1
        if got != e.intent:
            conf[f"{e.intent}->{got}"] += 1
    worst = sorted(by_source.items(), key=lambda kv: kv[1][0] / kv[1][1])[:15]
    same = [d for d in decided if same_sources is None or d[0].source in same_sources]
    if dump:
        rows = [(k, r) for k, raw in enumerate(raws) for r in raw]
        np.savez_compressed(
            dump,
            fold=np.array([k for k, _ in rows]),
            source=np.array([r["e"].source for _, r in rows]),
            gold=np.array([INTENTS.index(r["e"].intent) for _, r in rows]),
            gold_c=np.array([[c in r["e"].concerns for c in CONCERNS] for _, r in rows]),
            rule=np.array([r["rule"] is not None for _, r in rows]),
            p=np.array([r.get("p", np.zeros(len(INTENTS))) for _, r in rows]),
            pc=np.array([r.get("pc", np.zeros(len(CONCERNS))) for _, r in rows]),
        )
    return {
        "cv_same_sources": score(same),
        "folds": folds,
        "train": len(train),
        "train_sources": len(set(groups)),
        "cv": cv,
        "dev": score(dev_decided),
        "fold_knobs": fold_knobs,
        "dev_knobs": knobs,
        "confusions": conf.most_common(12),
        "worst_sources": [(s, round(a / n, 3), n) for s, (a, n) in worst],
        "by_source": {s: [a, n] for s, (a, n) in sorted(by_source.items())},
        "seconds": round(time.perf_counter() - t0),
    }


def report(res: dict) -> str:
    lines = [
        f"grouped CV: {res['folds']} folds over {res['train_sources']} train sources "
        f"({res['train']} replies); dev read by a model fitted on all of train",
        "",
        "| figure | grouped CV (train) | CV, older sources only | dev | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    same = res["cv_same_sources"]
    for key, label, target in FIGURES:
        lines.append(
            f"| {label} | {res['cv'][key]:.3f} | {same[key]:.3f} | {res['dev'][key]:.3f} "
            f"| {target} |"
        )
    lines.append(
        f"| false decisions (count) | {res['cv']['false_decisions_count']} | "
        f"{same['false_decisions_count']} | {res['dev']['false_decisions_count']} | |"
    )
    lines.append(f"| replies | {res['cv']['n']} | {same['n']} | {res['dev']['n']} | |")
    lines += ["", "per intent (CV): " + ", ".join(
        f"{i} P {v['precision']:.3f} R {v['recall']:.3f}"
        for i, v in res["cv"]["per_intent"].items()
    )]
    lines.append("confusions (gold->read): " + ", ".join(f"{k} {n}" for k, n in res["confusions"]))
    lines.append("weakest sources: " + ", ".join(f"{s} {a}" for s, a, _n in res["worst_sources"]))
    lines.append("knobs per fold (threshold, mix, margin, concern cut): " + "; ".join(
        ", ".join(f"{x:.3f}" for x in k) for k in res["fold_knobs"]
    ))
    lines.append(f"time: {res['seconds']} s")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--c-intent", type=float, default=None)
    ap.add_argument("--c-concern", type=float, default=None)
    ap.add_argument("--hesitate-bias", type=float, default=None)
    ap.add_argument("--json", default=None, help="also write the figures as JSON here")
    ap.add_argument("--dump", default=None, help="write the held-out reads (.npz) here")
    ap.add_argument("--data", default=None, help="corpus folder (default: the package's)")
    ap.add_argument(
        "--same-sources",
        default=None,
        help="an older corpus folder: also score only the train sources listed in its splits",
    )
    a = ap.parse_args()
    if a.c_intent is not None:
        training.C_INTENT = a.c_intent
    if a.c_concern is not None:
        training.C_CONCERN = a.c_concern
    if a.hesitate_bias is not None:
        training.HESITATE_BIAS = a.hesitate_bias
    same = set(splits(Path(a.same_sources))["train"]) if a.same_sources else None
    res = run(a.folds, Path(a.data) if a.data else DATA_DIR, same, a.dump)
    print(report(res))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
