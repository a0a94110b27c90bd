"""Print the corpus tables of docs/understanding.md (size by source, label, split)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bot.vocab import CONCERNS, INTENTS

HERE = Path(__file__).resolve().parent


def main() -> None:
    splits = json.loads((HERE / "splits.json").read_text())
    where = {sid: name for name, ids in splits.items() for sid in ids}
    rows = {
        f.stem: [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines()]
        for f in sorted((HERE / "sources").glob("*.jsonl"))
    }
    print("| source | split | replies | " + " | ".join(INTENTS) + " |")
    print("| --- | --- | ---: |" + " ---: |" * len(INTENTS))
    for sid, rs in rows.items():
        c = Counter(r["intent"] for r in rs)
        print(
            f"| {sid} | {where.get(sid, '?')} | {len(rs)} | "
            + " | ".join(str(c[i]) for i in INTENTS)
            + " |"
        )
    print()
    print("| split | sources | replies | " + " | ".join(INTENTS + CONCERNS) + " |")
    print("| --- | ---: | ---: |" + " ---: |" * (len(INTENTS) + len(CONCERNS)))
    for name in ("train", "dev", "test", "all"):
        ids = list(rows) if name == "all" else splits[name]
        rs = [r for sid in ids for r in rows[sid]]
        ci = Counter(r["intent"] for r in rs)
        cc = Counter(c for r in rs for c in r["concerns"])
        print(
            f"| {name} | {len(ids)} | {len(rs)} | "
            + " | ".join(str(ci[i]) for i in INTENTS)
            + " | "
            + " | ".join(str(cc[c]) for c in CONCERNS)
            + " |"
        )


if __name__ == "__main__":
    main()
