"""Prove that a change to the rule engine changes no output (see docs/understanding.md).

    python bench/rules_identity.py --against main      # old rules.py/features.py from git
    python bench/rules_identity.py --dump FILE.json    # this checkout's outputs
    python bench/rules_identity.py --check FILE.json   # compare with a dump
    python bench/rules_identity.py --time main         # µs per dev reply, REV against this

Per text: `rules._scan` (intent -> score, position), `classify_rules`, `classify_reason`,
`concerns_of` and the blocks of `features.blocks` (the rule cues in full, the character and
word blocks as a digest). Texts: the corpus' three splits, its raw files, tests/intent_sets
and seeded joins of two corpus texts (so cues meet masked spans and contrasts they do not
meet in one reply). Exit status 1 on any difference. `--time` runs the two side by side,
alternating, on the dev split and keeps the best of the rounds (a shared machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.understanding import corpus, features, rules  # noqa: E402

JOINS = 6000
SEPARATORS = ("，", " ", "。", "但是", " but ", "", "?", "！不过")


def texts() -> list[str]:
    """Every text the check runs on, in a fixed order."""
    out = [e.text for s in corpus.SPLITS for e in corpus.load_split(s)]
    for path in sorted((corpus.DATA_DIR / "raw").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            out.append(line.split("||", 1)[-1])
    for path in sorted((ROOT / "tests" / "intent_sets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["text"])
    rnd = random.Random(15)
    base = list(out)
    for _ in range(JOINS):
        out.append(rnd.choice(base) + rnd.choice(SEPARATORS) + rnd.choice(base))
    out += ["", " ", "\x00", "但是", "?", "ＯＫ", "1", "不是不想来"]
    return out


def _digest(block: dict) -> str:
    return hashlib.sha1(json.dumps(sorted(block.items()), ensure_ascii=False).encode()).hexdigest()


def outputs(text: str, r=rules, f=features) -> list:
    """Everything the rules decide about one text, as JSON-able values."""
    c = r.classify_rules(text)
    chars, words, cues = f.blocks(text)
    scan = r._scan(r.normalise(text))
    return [
        sorted([k, list(v)] for k, v in scan.items()),
        [c.intent, list(c.concerns), c.source, c.sure, c.confidence, c.model],
        r.classify_reason(text),
        list(r.concerns_of(r.normalise(text))),
        sorted(cues.items()),
        _digest(chars),
        _digest(words),
    ]


def _old_modules(rev: str) -> tuple[types.ModuleType, types.ModuleType]:
    """rules.py and features.py as they are at git revision `rev` (tables: this checkout)."""

    def load(name: str, path: str) -> types.ModuleType:
        src = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        mod = types.ModuleType(name)
        mod.__file__ = str(ROOT / path)
        sys.modules[name] = mod  # dataclasses look the module up
        exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)
        return mod

    old_rules = load("_old_rules", "bot/understanding/rules.py")
    old_features = load("_old_features", "bot/understanding/features.py")
    old_features.rules = old_rules
    return old_rules, old_features


def _compare(got: list, want: list, all_texts: list[str]) -> int:
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    for i in bad[:10]:
        print(f"DIFF {all_texts[i]!r}\n  old {want[i]}\n  new {got[i]}")
    print(f"{len(all_texts)} texts, {len(bad)} differ")
    return 1 if bad else 0


def _timing(rev: str, rounds: int = 7) -> int:
    old_rules, old_features = _old_modules(rev)
    dev = [e.text for e in corpus.load_split("dev")]
    norm = [rules.normalise(t) for t in dev]
    features.blocks("warm up")  # jieba's dictionary
    parts = {
        "_scan": (old_rules._scan, rules._scan, norm),
        "classify_rules": (old_rules.classify_rules, rules.classify_rules, dev),
        "features.blocks": (old_features.blocks, features.blocks, dev),
    }
    from bot.understanding import model

    reader = model.shipped_model()

    def read_with(feats: types.ModuleType):  # the shipped model over either features module
        def read(text: str) -> None:
            model.features = feats
            try:
                reader.read(text)
            finally:
                model.features = features

        return read

    parts["model.read"] = (read_with(old_features), read_with(features), dev)
    for name, (old, new, items) in parts.items():
        best = {"old": float("inf"), "new": float("inf")}
        for _ in range(rounds):
            for who, fn in (("old", old), ("new", new)):
                start = time.perf_counter()
                for x in items:
                    fn(x)
                best[who] = min(best[who], (time.perf_counter() - start) / len(items) * 1e6)
        print(f"{name}: {rev} {best['old']:.1f} µs, this checkout {best['new']:.1f} µs a reply")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--against", metavar="REV", help="compare with rules.py/features.py at REV")
    g.add_argument("--dump", metavar="FILE", help="write this checkout's outputs")
    g.add_argument("--check", metavar="FILE", help="compare with a --dump file")
    g.add_argument("--time", metavar="REV", help="time REV and this checkout on dev replies")
    a = ap.parse_args()
    if a.time:
        return _timing(a.time)
    all_texts = texts()
    start = time.perf_counter()
    got = [json.loads(json.dumps(outputs(t), ensure_ascii=False)) for t in all_texts]
    print(f"outputs of {len(all_texts)} texts in {time.perf_counter() - start:.1f} s")
    if a.dump:
        Path(a.dump).write_text(
            json.dumps({"texts": all_texts, "outputs": got}, ensure_ascii=False), encoding="utf-8"
        )
        print(f"wrote {a.dump}")
        return 0
    if a.check:
        ref = json.loads(Path(a.check).read_text(encoding="utf-8"))
        if ref["texts"] != all_texts:
            print("the texts differ from the dump's (corpus changed?)")
            return 1
        return _compare(got, ref["outputs"], all_texts)
    old_rules, old_features = _old_modules(a.against)
    want = [
        json.loads(json.dumps(outputs(t, old_rules, old_features), ensure_ascii=False))
        for t in all_texts
    ]
    return _compare(got, want, all_texts)


if __name__ == "__main__":
    sys.exit(main())
