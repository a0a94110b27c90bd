"""The literal prefilter of the rule tables (bot/understanding/prefilter.py): what it reads off
a pattern, that it never skips a cue that could match, and that the rules read every reply
as the plain in-order scan of all cues does."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from bot.understanding import corpus, rules
from bot.understanding.prefilter import LiteralIndex, needs
from bot.vocab import CONCERNS

DATA = Path(__file__).parent / "intent_sets"


@pytest.mark.parametrize(
    ("pattern", "want"),
    [
        ("不考虑了?", {"不考虑"}),
        ("(?:去|来|入职|报到)不了", {"不了"}),
        (r"(?<=,)\s*来", {"来"}),
        (r"\d+号(?:入职|到岗)", {"号入职", "号到岗"}),
        ("[👍👌✅]", {"👍", "👌", "✅"}),
        ("a|bc", {"a", "bc"}),
        ("(?:ab)+c?", {"ab"}),
        (r"^(?:hi|hey)(?: there)?[\s,.!?~]*$", {"hi", "hey"}),
        (rules._rx(r"\bdecline"), {"decline"}),
    ],
)
def test_needs_reads_the_literals(pattern, want) -> None:
    pattern = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    assert needs(pattern) == want


@pytest.mark.parametrize(
    "pattern",
    ["a?", "x|y?", ".{0,3}", r"\d+", "[^ab]c?", "(?i)abc", r"(a)\1", "(?:a|.)b?", "a*"],
)
def test_needs_gives_up_when_no_literal_is_certain(pattern) -> None:
    assert needs(pattern) is None


def test_index_lists_only_what_can_match() -> None:
    index = LiteralIndex([frozenset({"不了"}), None, frozenset({"ab", "x"}), frozenset({"了"})])
    assert index.candidates("去不了") == [0, 1, 3]
    assert index.candidates("xab") == [1, 2]
    assert index.candidates("") == [1]


def _texts() -> list[str]:
    out = [e.text for s in ("dev", "test") for e in corpus.load_split(s)]
    for path in sorted(DATA.glob("*.jsonl")):
        out += [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines() if line]
    rnd = random.Random(7)
    base = list(out)
    out += [rnd.choice(base) + rnd.choice("，? 但是") + rnd.choice(base) for _ in range(800)]
    return [rules.normalise(t) for t in out]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _texts()


def test_every_match_holds_a_needed_literal(texts) -> None:
    patterns = [c.rx for c in rules._CUES] + [rx for _, _, rx in rules._CONCERN_RX]
    wanted = [needs(rx.pattern) for rx in patterns]
    assert sum(w is None for w in wanted) == 0  # every table entry is prefiltered today
    for t in texts:
        for rx, want in zip(patterns, wanted, strict=True):
            for m in rx.finditer(t):
                if m.group():
                    assert any(lit in m.group() for lit in want), (rx.pattern, t)


def _plain_scan(t: str) -> dict[str, tuple[int, int]]:
    # The engine without the prefilter: every cue, in table order.
    hits, masked = [], t
    for cue in rules._CUES:
        for m in cue.rx.finditer(masked):
            if m.end() == m.start():
                continue
            if cue.intent is not None:
                hits.append((cue.intent, cue.weight, m.start()))
            masked = masked[: m.start()] + "\x00" * (m.end() - m.start()) + masked[m.end() :]
    contrast = max((m.end() for m in rules.CONTRAST_RX.finditer(masked)), default=-1)
    best: dict[str, tuple[int, int]] = {}
    for intent, weight, pos in hits:
        w = weight + (1 if contrast >= 0 and pos >= contrast else 0)
        if intent not in best or w > best[intent][0]:
            best[intent] = (w, pos)
    return best


_WHOLE = {c: rules._rx("|".join(f"(?:{p})" for p in rules.CONCERN_CUES[c])) for c in CONCERNS}


def test_prefiltered_rules_read_as_the_plain_scan(texts) -> None:
    for t in texts:
        assert rules._scan(t) == _plain_scan(t), t
        kept = rules.CONCERN_IGNORE_RX.sub(" ", t)
        assert rules.concerns_of(t) == tuple(c for c in CONCERNS if _WHOLE[c].search(kept)), t
        starts = [
            (m.start(), n, c) for n, c in enumerate(CONCERNS) if (m := _WHOLE[c].search(kept))
        ]
        reason = rules.classify_reason(t)
        if not rules.REASON_MENU_RX.match(t) and not rules._INFO_MISMATCH_RX.search(t):
            assert reason == (min(starts)[2] if starts else "other"), t
