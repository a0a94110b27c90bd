"""The labelled reply corpus (bot/understanding/labelled; docs/understanding.md) is sound."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from bot.vocab import CONCERNS, INTENTS

DATA = Path(__file__).resolve().parent.parent / "bot" / "understanding" / "labelled"
SOURCES = sorted((DATA / "sources").glob("*.jsonl"))


def norm(text: str) -> str:
    """Duplicate key: NFKC, case, whitespace and punctuation ignored."""
    t = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in t if not c.isspace() and not unicodedata.category(c).startswith("P"))


def load(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert set(row) == {"text", "intent", "concerns"}, f"{path.name}:{n}"
        rows.append(row)
    return rows


CORPUS = {p.stem: load(p) for p in SOURCES}
SPLITS = json.loads((DATA / "splits.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("sid", sorted(CORPUS))
def test_labels_are_valid(sid):
    assert CORPUS[sid], f"{sid} is empty"
    for row in CORPUS[sid]:
        assert isinstance(row["text"], str) and row["text"].strip(), row
        assert row["intent"] in INTENTS, row
        assert all(c in CONCERNS for c in row["concerns"]), row
        assert row["concerns"] == sorted(set(row["concerns"])), row


def test_no_duplicate_texts_across_the_corpus():
    seen: dict[str, str] = {}
    for sid, rows in CORPUS.items():
        for row in rows:
            key = norm(row["text"])
            assert key, row
            assert key not in seen, f"{row['text']!r} in {sid} repeats {seen.get(key)}"
            seen[key] = sid


def test_every_source_in_exactly_one_split():
    assert set(SPLITS) == {"train", "dev", "test"}
    listed = [sid for ids in SPLITS.values() for sid in ids]
    assert len(listed) == len(set(listed)), "a source is in two splits"
    assert set(listed) == set(CORPUS), "splits.json and sources/ disagree"


def test_corpus_size_and_intents_in_every_split():
    assert sum(len(rows) for rows in CORPUS.values()) >= 2000
    for name, ids in SPLITS.items():
        intents = {row["intent"] for sid in ids for row in CORPUS[sid]}
        assert intents == set(INTENTS), f"{name} lacks {set(INTENTS) - intents}"
