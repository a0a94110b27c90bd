"""The labelled corpus: `data/sources/<source_id>.jsonl` plus `data/splits.json`.

Each line of a source file is {"text", "intent", "concerns"}; `splits.json` maps
"train" / "dev" / "test" to lists of source ids, fixed once, by source, so paraphrases of
one page never straddle two splits. The test split is never tuned on (see
docs/understanding.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bot.vocab import CONCERNS, INTENTS

DATA_DIR = Path(__file__).resolve().parent / "labelled"
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Example:
    """One labelled reply. `concerns` are in CONCERNS order; `source` is the source id."""

    text: str
    intent: str
    concerns: tuple[str, ...] = ()
    source: str = ""


def parse_line(line: str, source: str, where: str = "") -> Example:
    """One JSONL line -> Example; ValueError on an unknown intent or concern."""
    row = json.loads(line)
    intent = row["intent"]
    if intent not in INTENTS:
        raise ValueError(f"{where}: unknown intent {intent!r}")
    named = set(row.get("concerns") or ())
    bad = named - set(CONCERNS)
    if bad:
        raise ValueError(f"{where}: unknown concerns {sorted(bad)}")
    return Example(str(row["text"]), intent, tuple(c for c in CONCERNS if c in named), source)


def load_file(path: Path, source: str | None = None) -> list[Example]:
    """Every labelled line of one JSONL file (blank lines skipped)."""
    source = source or path.stem
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                out.append(parse_line(line, source, f"{path}:{n}"))
    return out


def splits(data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """The split table: {"train": [source ids], "dev": [...], "test": [...]}."""
    table = json.loads((data_dir / "splits.json").read_text(encoding="utf-8"))
    return {name: list(table.get(name, ())) for name in SPLITS}


def load_split(name: str, data_dir: Path = DATA_DIR) -> list[Example]:
    """All examples of one split ("train", "dev" or "test"), in source-id order."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r} (expected one of {SPLITS})")
    out: list[Example] = []
    for source in sorted(splits(data_dir)[name]):
        out.extend(load_file(data_dir / "sources" / f"{source}.jsonl", source))
    return out
