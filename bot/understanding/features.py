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


# Shapes of a sentence that decide an intent whatever the topic (docs/understanding.md,
# "How the model reads"): a condition put on a yes, a yes that follows from something
# settled, an apology, a refusal verb, something already done elsewhere, a worry told as
# resolved. The model learns their weights; these only say where they are.
SHAPES = {
    "cond": re.compile(
        r"如果|要是|假如|只要|的话|得话|前提|除非|条件是|能不能.{0,12}(?:就|才)|(?:能|可以).{0,12}我就"
        r"|\bif\b|as long as|provided|unless|on condition|only if"
    ),
    "then_yes": re.compile(
        r"(?:就|才)(?:签|来|去|接|定|入职|接受|答应|过来|成交|确认|同意)|i'?m in\b"
        r"|i'?ll (?:accept|sign|join|take)|happy to (?:join|accept)|ready to accept"
    ),
    "settled": re.compile(r"那(?:我)?就|既然|想明白|想清楚了|谈妥|搞定|解决了|没问题了|放心了"),
    "sorry": re.compile(r"抱歉|对不起|不好意思|对不住|见谅|sorry|apolog|afraid"),
    "refuse": re.compile(
        r"不(?:去|来|走|接|签|要|考虑|入职|换|过去|加入)|去不了|来不了|没法(?:入职|去|来)|放弃|婉拒"
        r"|算了|作罢|取消|拒|撤回|反悔|不能(?:接受|入职|加入)"
        r"|won'?t|decline|withdraw|not (?:be )?join"
    ),
    "done_elsewhere": re.compile(
        r"(?:已经|已|刚|前两天|昨天).{0,10}(?:签|入职|报到|答应|接受|去了|选了)"
        r"|already|accepted another"
    ),
    "was_worried": re.compile(r"(?:本来|之前|原来|起初).{0,12}(?:担心|顾虑|纠结|犹豫|worr)"),
    "ask_time": re.compile(
        r"(?:等|给|多|再|延).{0,6}(?:几天|两天|一周|时间)|more time|few (?:more )?days"
    ),
}


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
    # One reading of the normalised text gives the rules' intent and their concerns.
    reading = rules.classify_normalised(t)
    cues: dict[str, float] = {"r:intent=" + reading.intent: 1.0}
    for c in reading.concerns:
        cues["r:concern=" + c] = 1.0
    if rules.HEDGE_RX.search(t):
        cues["r:hedge"] = 1.0
    if rules.CONTRAST_RX.search(t):
        cues["r:contrast"] = 1.0
    if "?" in t:
        cues["r:?"] = 1.0
    for name, rx in SHAPES.items():
        if rx.search(t):
            cues["r:shape=" + name] = 1.0
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
