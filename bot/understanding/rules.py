"""The rule reader of candidate replies (see docs/understanding.md): intent + concerns.

The provider the bot uses is `LocalProvider` (`make_provider`): the learned model of
bot/understanding (see docs/understanding.md) reads the reply; `certain_rule` answers what
is certain (empty text, menu digits, the buttons' labels), and the rules below are the
fallback when no model file loads. With `[intents] provider = "llm"` the LLM is asked only
when the model is unsure. `classify_rules(text)` is the deterministic rule classifier:
pure, no I/O. `LLMProvider` asks an OpenAI-compatible endpoint and falls back to the rules
on any failure. `classify_reason(text)` files the answer to "why did you decline?" under a
reason category.

How the rules work
------------------
1. Normalise: Unicode NFKC (full-width letters, digits and punctuation become ASCII,
   "ＯＫ" -> "ok", "２" -> "2", "，" -> ","), curly quotes to straight, lower case.
2. A reply that is only a menu choice ("1", "２", "选3", "1哈") maps straight to
   1 = accept, 2 = decline, 3 = question.
3. `INTENT_CUES` is scanned top to bottom. Each cue is (intent, weight, regex); a match
   *consumes* its span so later, more general cues cannot read the same words again.
   That is how negation and idioms work: "不是不想来" (hesitate) is consumed before
   "不想来" (decline) is looked for, "没问题" (accept) before "问题" (question),
   "不考虑了" (decline) before "考虑" (hesitate), "经过慎重考虑" (a polite-refusal
   opener) before "考虑". Cues with intent `None` only consume (e.g. "考虑好了").
   A cue whose required literal is not in the reply cannot match and is not run
   (bot/understanding/prefilter.py); the order and the masking are those of the full scan.
   Weights: 3 = explicit decision or negotiation ("我接受", "决定放弃", "薪资能否再谈"),
   2 = clear cue ("不来了", "考虑一下", "加班多吗"), 1 = weak cue (a bare "好的" at the start,
   a lone "?", "经过慎重考虑", "unfortunately").
4. Contrast: a cue after the last "但/但是/不过/可是/只是/but/however" gets +1, because
   what follows "but" is what the candidate means ("我接受，但薪资能否再谈",
   "I accepted last week but I'm starting to have doubts").
5. Each intent scores its strongest cue. The highest score wins; ties go by
   PRECEDENCE = decline > hesitate > question > accept > other. Consequences:
   - hesitate beats question ("能不能晚几天答复？", "Is the salary negotiable?");
   - a question that carries a concern stays a question ("加班多吗" -> question+overtime);
   - an explicit accept (3) beats a question (2): "接受offer，请问要带什么材料" is accept
     (+process); a bare "好的" (1) does not: "好的，加班多吗" is a question;
   - negotiation ("薪资能否再谈", "can you match 30k") is hesitate, never question: HR must
     see it;
   - "other" only wins when nothing else is said ("在吗", "您好，请问是哪位").
6. Hedges: an accept or decline preceded (within the same stretch of text) by a hedge or
   a condition ("可能", "也许", "如果…", "…的话", "maybe", "might", "if", "unless") is
   hesitate: "可能去不了了", "如果能远程我就来", "I might not be able to join".
   ("应该/估计/probably" are not hedges: "估计来不了了" is a decline.)
7. No intent cue at all but a concern mentioned ("孩子还小") -> hesitate: a candidate who
   raises a concern unprompted is someone HR should talk to. Nothing at all -> other.

Concerns are found independently, by keyword tables in both languages (`CONCERN_CUES`),
and returned in `CONCERNS` order. Requests to move a date or a reply deadline count as
`timing` ("能不能晚几天答复", "extend the deadline"); "I need time to think" alone does not.

Renege: replies from someone who already accepted ("我不来了", "去不了了",
"I won't be joining") are declines here; the offer flow turns them into `reneged`.

This module holds patterns only. Nothing the bot *says* belongs here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bot.understanding.prefilter import LiteralIndex, needs
from bot.understanding.rule_tables import (  # noqa: F401 - the tables are read as rules.X too
    _END,
    CONCERN_CUES,
    CONCERN_IGNORE_RX,
    CONTRAST_RX,
    HEDGE_REACH,
    HEDGE_RX,
    INFO_MISMATCH_CUES,
    INTENT_CUES,
    MENU,
    MENU_RX,
    PRECEDENCE,
    REASON_MENU_RX,
)
from bot.vocab import CONCERNS, INTENTS, REASON_CATEGORIES  # noqa: F401 - re-exported

# --------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------

# The catalogs hold the buttons' labels (read as files: the flows sit above this package).
CATALOGS = Path(__file__).resolve().parent.parent / "flows" / "messages"
INTENTS_SET = frozenset(INTENTS)


@dataclass(frozen=True)
class Classification:
    """One reading of a reply.

    `source` is who read it: "rules", "model" (the learned model, see
    docs/understanding.md) or "llm". `sure` is False when the bot should confirm before
    acting on a decision; `confidence` is the calibrated probability of `intent` (1.0 for
    the rules); `model` names the model that read it ("rules" for the rules).
    """

    intent: str
    concerns: tuple[str, ...]  # ordered as in CONCERNS, no duplicates
    source: str = "rules"
    sure: bool = True
    confidence: float = 1.0
    model: str = "rules"


@dataclass(frozen=True)
class _Cue:
    intent: str | None
    weight: int
    rx: re.Pattern[str]


# `\b` in the tables means an *ASCII* word boundary: Chinese characters count as
# non-letters there, so "base能不能再高" and "ok哒" still have word edges.
_ASCII_B = r"(?:(?<![a-z0-9])(?=[a-z0-9])|(?<=[a-z0-9])(?![a-z0-9]))"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace(r"\b", _ASCII_B))


_CUES: tuple[_Cue, ...] = tuple(
    _Cue(intent, weight, _rx(p)) for intent, weight, pats in INTENT_CUES for p in pats
)
# Each concern's keywords one by one (concern order, then table order): a keyword that
# cannot match is then skipped alone (a search of the whole alternation tries every keyword
# at every position).
_CONCERN_RX: tuple[tuple[int, str, re.Pattern[str]], ...] = tuple(
    (order, c, _rx(p)) for order, c in enumerate(CONCERNS) for p in CONCERN_CUES[c]
)
# Which cues and keywords can match a reply at all (bot/understanding/prefilter.py).
_CUE_INDEX = LiteralIndex([needs(cue.rx.pattern) for cue in _CUES])
_CONCERN_INDEX = LiteralIndex([needs(rx.pattern) for _, _, rx in _CONCERN_RX])
_INFO_MISMATCH_RX = _rx("|".join(f"(?:{p})" for p in INFO_MISMATCH_CUES))
_MASK = "\x00"
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    """NFKC (full-width -> ASCII), straight quotes, lower case, single spaces."""
    t = unicodedata.normalize("NFKC", text or "").translate(_QUOTES).lower()
    return re.sub(r"\s+", " ", t).strip()


def _scan(t: str) -> dict[str, tuple[int, int]]:
    """Run the cue table; return intent -> (score, position of its best cue)."""
    hits: list[tuple[str, int, int]] = []
    masked = t
    for i in _CUE_INDEX.candidates(t):  # the others cannot match, masked or not
        cue = _CUES[i]
        for m in cue.rx.finditer(masked):
            if m.end() == m.start():
                continue
            if cue.intent is not None:
                hits.append((cue.intent, cue.weight, m.start()))
            masked = masked[: m.start()] + _MASK * (m.end() - m.start()) + masked[m.end() :]
    contrast = max((m.end() for m in CONTRAST_RX.finditer(masked)), default=-1)
    best: dict[str, tuple[int, int]] = {}
    for intent, weight, pos in hits:
        w = weight + (1 if contrast >= 0 and pos >= contrast else 0)
        if intent not in best or w > best[intent][0]:
            best[intent] = (w, pos)
    return best


def _hedged(t: str, pos: int) -> bool:
    window = t[max(0, pos - HEDGE_REACH) : pos]
    return HEDGE_RX.search(window) is not None


def concerns_of(t: str) -> tuple[str, ...]:
    """The concerns the keyword tables find in normalised text `t` (CONCERNS order)."""
    return _concerns(t)


def _concerns(t: str) -> tuple[str, ...]:
    t = CONCERN_IGNORE_RX.sub(" ", t)
    found: set[str] = set()
    for i in _CONCERN_INDEX.candidates(t):
        _, concern, rx = _CONCERN_RX[i]
        if concern not in found and rx.search(t):
            found.add(concern)
    return tuple(c for c in CONCERNS if c in found)


def _decide(t: str, concerns: tuple[str, ...]) -> str:
    menu = MENU_RX.match(t)
    if menu:
        return MENU[menu.group(1)]
    scores = _scan(t)
    if not scores:
        return "hesitate" if concerns else "other"
    winner = max(scores, key=lambda i: (scores[i][0], -PRECEDENCE.index(i)))
    if winner in ("accept", "decline") and _hedged(t, scores[winner][1]):
        return "hesitate"
    return winner


def classify_rules(text: str) -> Classification:
    """Classify one candidate reply with the rule tables above (pure, no I/O)."""
    return classify_normalised(normalise(text))


def classify_normalised(t: str) -> Classification:
    """`classify_rules` of a text `normalise` already read (features.py holds it)."""
    concerns = _concerns(t)
    return Classification(_decide(t, concerns), concerns, "rules")


def _button_labels() -> dict[str, str]:
    """The offer buttons' own labels (zh and en catalogs), normalised -> intent: a
    channel without buttons may send the label as text."""
    import tomllib

    out: dict[str, str] = {}
    for path in sorted(CATALOGS.glob("*.toml")):
        offer = tomllib.loads(path.read_text(encoding="utf-8")).get("offer", {})
        for key, intent in MENU_BUTTONS.items():
            label = offer.get(key)
            if isinstance(label, str) and label.strip():
                out[normalise(label)] = intent
    return out


MENU_BUTTONS = {
    "button_accept": "accept",
    "button_decline": "decline",
    "button_question": "question",
}
_BUTTONS: dict[str, str] | None = None


def certain_rule(text: str) -> tuple[Classification, str] | None:
    """The replies the rules read with certainty: empty text, a menu digit ("1", "选2"),
    a button's own label. Returns (classification, which rule) or None."""
    global _BUTTONS
    t = normalise(text)
    if not t:
        return Classification("other", (), "rules"), "empty text"
    menu = MENU_RX.match(t)
    if menu:
        return Classification(MENU[menu.group(1)], (), "rules"), f"menu digit {menu.group(1)}"
    if _BUTTONS is None:
        _BUTTONS = _button_labels()
    if t in _BUTTONS:
        return Classification(_BUTTONS[t], (), "rules"), "button label"
    return None


def classify_reason(text: str) -> str:
    """File a decline reason: a menu number 1..11 (REASON_CATEGORIES order), or free text
    -> "info_mismatch", else the concern mentioned first, else "other"."""
    t = normalise(text)
    m = REASON_MENU_RX.match(t)
    if m and 1 <= int(m.group(1)) <= len(REASON_CATEGORIES):
        return REASON_CATEGORIES[int(m.group(1)) - 1]
    if _INFO_MISMATCH_RX.search(t):
        return "info_mismatch"
    t = CONCERN_IGNORE_RX.sub(" ", t)
    # The earliest keyword over all concerns (ties: CONCERNS order), as the earliest
    # match of each concern's alternation would give.
    first: tuple[int, int, str] | None = None
    for i in _CONCERN_INDEX.candidates(t):
        order, concern, rx = _CONCERN_RX[i]
        found = rx.search(t)
        if found and (first is None or (found.start(), order) < first[:2]):
            first = (found.start(), order, concern)
    return first[2] if first else "other"
