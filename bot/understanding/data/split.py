"""Assign each corpus source to train / dev / test, once (see docs/understanding.md).

Rule: h = sha256(f"{SEED}:{source_id}") read as a number in [0, 1); h < 0.2 -> test,
h < 0.4 -> dev, otherwise train. The draw depends only on the seed and the id, so a source
keeps its split forever and nobody picks which sources are tested. Sources already in
splits.json keep their split; new ones are drawn by the same rule.

Run: python bot/understanding/data/split.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 15


def draw(source_id: str) -> str:
    digest = hashlib.sha256(f"{SEED}:{source_id}".encode()).hexdigest()
    h = int(digest[:16], 16) / 16**16
    return "test" if h < 0.2 else "dev" if h < 0.4 else "train"


def main() -> None:
    path = HERE / "splits.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    fixed = {sid: name for name, ids in old.items() for sid in ids}
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for f in sorted((HERE / "sources").glob("*.jsonl")):
        splits[fixed.get(f.stem) or draw(f.stem)].append(f.stem)
    path.write_text(json.dumps(splits, indent=1) + "\n")


if __name__ == "__main__":
    main()
