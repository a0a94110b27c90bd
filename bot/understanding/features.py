"""What the model looks at in a reply (see docs/understanding.md, "How the model reads").

Three blocks of sparse features, each a name -> value map:
- characters: n-grams of 1..4 characters of the normalised text (NFKC, lower case), with
  "^" / "$" marking the ends, so "^好的$" differs from "好的，但是…";
- words: jieba words and word pairs (Chinese has no spaces; English words fall out too);
- cues: from bot/understanding/rules.py, the intent the rules pick, the concerns their keyword
  tables find, a hedge ("可能", "如果", "maybe"), a contrast ("但是", "but"), a question
  mark, a length bucket. (The rules' intent costs about half of the time per reply; on
  the dev split it lifts macro-F1 from 0.49 to 0.63, so it stays.)

Counts are weighted sublinearly (1 + log tf) times the inverse document frequency learnt
at training, and each block is scaled to unit length; rule cues are 0/1.
"""

from __future__ import annotations

import logging
import math
import re
import threading

import jieba

from bot.understanding import rules

CHAR_N = (1, 2, 3, 4)
_SPACE = re.compile(r"\s+")
_jieba_ready = threading.Lock()
_jieba_done = False


def _words(t: str) -> list[str]:
    global _jieba_done
    if not _jieba_done:
        with _jieba_ready:
            if not _jieba_done:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_done = True
    return [w for w in jieba.lcut(t, HMM=False) if w.strip()]


def blocks(text: str) -> tuple[dict[str, int], dict[str, int], dict[str, float]]:
    """(character n-gram counts, word counts, rule cues) of one raw reply."""
    t = rules.normalise(text)
    chars: dict[str, int] = {}
    s = "^" + _SPACE.sub(" ", t) + "$"
    for n in CHAR_N:
        for i in range(len(s) - n + 1):
            g = "c:" + s[i : i + n]
            chars[g] = chars.get(g, 0) + 1
    words: dict[str, int] = {}
    ws = _words(t)
    for i, w in enumerate(ws):
        words["w:" + w] = words.get("w:" + w, 0) + 1
        if i:
            pair = "w:" + ws[i - 1] + "_" + w
            words[pair] = words.get(pair, 0) + 1
    cues: dict[str, float] = {"r:intent=" + rules.classify_rules(text).intent: 1.0}
    for c in rules.concerns_of(t):
        cues["r:concern=" + c] = 1.0
    if rules.HEDGE_RX.search(t):
        cues["r:hedge"] = 1.0
    if rules.CONTRAST_RX.search(t):
        cues["r:contrast"] = 1.0
    if "?" in t:
        cues["r:?"] = 1.0
    cues["r:len=" + ("short" if len(t) <= 6 else "medium" if len(t) <= 40 else "long")] = 1.0
    return chars, words, cues


def weigh(counts: dict[str, int], idf: dict[str, float]) -> dict[str, float]:
    """Sublinear tf x idf over the known names, scaled to unit length."""
    out = {k: (1.0 + math.log(v)) * idf[k] for k, v in counts.items() if k in idf}
    norm = math.sqrt(sum(v * v for v in out.values()))
    return {k: v / norm for k, v in out.items()} if norm else out


def featurize(text: str, idf: dict[str, float]) -> dict[str, float]:
    """The model's feature vector of one reply: name -> value (unknown names dropped)."""
    return vector(blocks(text), idf)


def vector(bl: tuple[dict, dict, dict], idf: dict[str, float]) -> dict[str, float]:
    """The feature vector from `blocks(text)`."""
    chars, words, cues = bl
    out = weigh(chars, idf)
    out.update(weigh(words, idf))
    out.update({k: v for k, v in cues.items() if k in idf})
    return out
