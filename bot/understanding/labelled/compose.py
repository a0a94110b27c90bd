"""Build the labelled reply corpus from the hand-written originals (see docs/understanding.md).

`raw/<source_id>.txt` holds hand-written replies, one a line: `<intent>|<concerns>|<text>`,
intent as a letter (a accept, d decline, h hesitate, q question, o other), concerns as short
codes separated by commas. A first line `#novariants` keeps the source as written (menu
digits, one-word replies). Otherwise each reply gets one or two composed variants (typos,
emoji, greetings, voice-to-text fillers) that keep its labels; variants stay in the source
file of their original. Output: `sources/<source_id>.jsonl`. Deterministic (seeded per line).

Run: python bot/understanding/labelled/compose.py [--stats]
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTENT = {"a": "accept", "d": "decline", "h": "hesitate", "q": "question", "o": "other"}
CONCERN = {
    "sal": "salary",
    "ot": "overtime",
    "loc": "location",
    "comp": "competing_offer",
    "fit": "role_fit",
    "team": "team_culture",
    "fam": "family",
    "time": "timing",
    "proc": "process",
}
EMOJI = {
    "accept": ["😊", "🎉", "👍", "[握手]", "😄", "✌️"],
    "decline": ["🙏", "[抱拳]", "😔", "[合十]"],
    "hesitate": ["🤔", "😅", "[捂脸]", "😕"],
    "question": ["🙏", "😊", "[抱拳]", "🤝"],
    "other": ["👌", "🙂", "[OK]", "😀"],
}
ZH_PREFIX = [
    "您好，",
    "hr您好，",
    "王经理您好，",
    "嗯 ",
    "那个，",
    "哈喽，",
    "李老师，",
    "你好呀，",
]
EN_PREFIX = ["Hi, ", "Hello, ", "Hi Anna, ", "Hey, ", "Dear Ms. Chen, "]
ZH_TYPO = [
    ("在", "再"),
    ("再", "在"),
    ("已经", "以经"),
    ("考虑", "考滤"),
    ("不好意思", "不好意识"),
    ("谢谢", "xiexie"),
    ("谢谢", "3q"),
    ("入职", "入值"),
    ("的话", "得话"),
    ("现在", "现再"),
    ("意思", "意识"),
    ("offer", "0ffer"),
    ("offer", "Offer"),
    ("公司", "公斯"),
    ("这个", "这各"),
    ("加班", "jiaban"),
    ("工资", "gz"),
]
EN_TYPO = [
    ("the ", "teh "),
    ("receive", "recieve"),
    ("really", "realy"),
    ("definitely", "definately"),
    ("you", "u"),
    ("your", "ur"),
    ("thanks", "thx"),
    ("please", "pls"),
    ("because", "bc"),
    ("offer", "ofer"),
]
FILLERS = [" 就是 ", " 那个 ", " 嗯 ", " 然后 "]


def norm(text: str) -> str:
    """The duplicate key: NFKC, lower case, no whitespace, no punctuation."""
    t = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in t if not c.isspace() and not unicodedata.category(c).startswith("P"))


def is_zh(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def variants(text: str, intent: str, rng: random.Random) -> list[str]:
    """Candidate rewrites of `text` that keep its meaning, in a seeded random order."""
    out = []
    zh = is_zh(text)
    out.append(text.rstrip("。.!！") + rng.choice(EMOJI[intent]))
    if not re.match(r"(?i)(您好|你好|hi|hello|dear|hey|.{1,3}(经理|老师|姐|哥))", text):
        head = (
            text
            if zh or text.startswith("I ") or text.startswith("I'")
            else text[:1].lower() + text[1:]
        )
        out.append(rng.choice(ZH_PREFIX if zh else EN_PREFIX) + head)
    for a, b in ZH_TYPO if zh else EN_TYPO:
        if a in text:
            out.append(text.replace(a, b, 1))
    if zh and re.search(r"[，。！？,!?]", text):
        # voice-to-text: punctuation gone, fillers where the pauses were
        spoken = re.sub(r"[，,]", lambda _: rng.choice(FILLERS), text)
        out.append(re.sub(r"[。！？!?~～]", " ", spoken).strip())
    if not zh:
        out.append(text.rstrip(".") + (" Thanks!" if intent != "decline" else " Sorry again."))
    rng.shuffle(out)
    return out


def build() -> dict[str, list[dict]]:
    seen: set[str] = set()
    corpus: dict[str, list[dict]] = {}
    for raw in sorted((HERE / "raw").glob("*.txt")):
        lines = raw.read_text(encoding="utf-8").splitlines()
        keep = bool(lines) and lines[0].strip() == "#novariants"
        rows: list[dict] = []
        for n, line in enumerate(lines):
            if not line.strip() or line.startswith("#"):
                continue
            code, codes, text = line.split("|", 2)
            intent = INTENT[code.strip()]
            concerns = sorted(CONCERN[c.strip()] for c in codes.split(",") if c.strip())
            texts = [text.strip()]
            if not keep:
                rng = random.Random(f"{raw.stem}:{n}")
                texts += variants(text.strip(), intent, rng)[: 1 + (n % 3 == 0)]
            for t in texts:
                key = norm(t)
                if key in seen or not key:
                    continue
                seen.add(key)
                rows.append({"text": t, "intent": intent, "concerns": concerns})
        corpus[raw.stem] = rows
    return corpus


def main() -> None:
    corpus = build()
    out = HERE / "sources"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.jsonl"):
        if old.stem not in corpus:
            old.unlink()
    for sid, rows in corpus.items():
        with open(out / f"{sid}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    total = Counter(r["intent"] for rows in corpus.values() for r in rows)
    print(sum(total.values()), dict(total), file=sys.stderr)


if __name__ == "__main__":
    main()
