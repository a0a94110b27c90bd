"""What a candidate's words mean while documents are being collected.

Three things only: put this item off (`跳过`/`skip`), show progress (`进度`/`progress`),
or say which item the next file is ("这是学位证", "bank card", "3"). Matching is strict —
the whole message, give or take filler words such as "这是" or "here is my" — because
anything else ("我不来了", "学位证需要原件吗？") belongs to the offer flow or to HR.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

SKIP_WORDS = frozenset(
    {
        "跳过",
        "先跳过",
        "跳过这项",
        "跳过这个",
        "跳过此项",
        "稍后再发",
        "以后再发",
        "skip",
        "skipit",
        "skipthis",
        "skipfornow",
        "later",
    }
)
PROGRESS_WORDS = frozenset(
    {
        "进度",
        "查看进度",
        "材料进度",
        "进展",
        "清单",
        "材料清单",
        "progress",
        "status",
        "checklist",
        "list",
    }
)

# Ways to name each item, besides its catalog names. "身份证" alone names both sides.
ALIASES: dict[str, tuple[str, ...]] = {
    "id_card_front": (
        "身份证正面",
        "身份证人像面",
        "身份证头像面",
        "人像面",
        "头像面",
        "正面",
        "id card front",
        "front of id card",
        "id front",
        "front",
        "身份证",
        "id card",
        "id",
    ),
    "id_card_back": (
        "身份证反面",
        "身份证背面",
        "身份证国徽面",
        "国徽面",
        "反面",
        "背面",
        "id card back",
        "back of id card",
        "id back",
        "back",
        "身份证",
        "id card",
        "id",
    ),
    "diploma": ("毕业证", "毕业证书", "学历证书", "学历证", "diploma", "graduation certificate"),
    "degree_certificate": ("学位证", "学位证书", "degree", "degree certificate"),
    "resignation_certificate": (
        "离职证明",
        "离职证",
        "离职证明书",
        "解除劳动合同证明",
        "resignation certificate",
        "resignation letter",
        "proof of resignation",
        "separation certificate",
    ),
    "bank_card": ("银行卡", "工资卡", "储蓄卡", "bank card", "debit card", "salary card"),
    "health_report": (
        "体检报告",
        "入职体检报告",
        "体检",
        "体检单",
        "health report",
        "health check",
        "medical report",
        "medical check",
    ),
    "photo": (
        "证件照",
        "照片",
        "一寸照",
        "二寸照",
        "寸照",
        "免冠照",
        "photo",
        "id photo",
        "passport photo",
        "portrait",
        "headshot",
    ),
}

# Filler around an item's name, compared without spaces ("here is my" → "hereismy").
_PREFIXES = (
    "这是我的",
    "这是",
    "这个是",
    "这张是",
    "这份是",
    "下面是",
    "接下来是",
    "接下来发",
    "现在发",
    "我要发",
    "我想发",
    "我发",
    "先发",
    "发送",
    "补发",
    "重新发",
    "重发",
    "发",
    "替换",
    "更换",
    "更新",
    "换",
    "上传",
    "我的",
    "是",
    "thisis",
    "this",
    "hereis",
    "heres",
    "here",
    "itis",
    "its",
    "imsending",
    "sending",
    "send",
    "replace",
    "resend",
    "update",
    "upload",
    "new",
    "nextis",
    "next",
    "my",
    "the",
    "a",
)
_SUFFIXES = (
    "的照片",
    "照片",
    "的图片",
    "图片",
    "的文件",
    "文件",
    "的扫描件",
    "扫描件",
    "的",
    "了",
    "哦",
    "吧",
    "呢",
    "啊",
    "photo",
    "picture",
    "pic",
    "scan",
    "file",
    "copy",
    "please",
    "pls",
)
_NUMBER = re.compile(r"(?:第|#|no|item)?(\d{1,2})(?:项|个|号)?")
_NOT_WORD = re.compile(r"[^\w]+")
MAX_NAMING_CHARS = 40  # longer messages are sentences, not an item's name


@dataclass(frozen=True)
class Said:
    kind: Literal["skip", "progress", "item"]
    items: tuple[str, ...] = ()  # for "item": the keys it may name, in checklist order


def compact(text: str) -> str:
    """Full-width to half-width, lower case, no punctuation or spaces."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower()).replace("_", "")


def understand(text: str, keys: list[str], names: dict[str, list[str]]) -> Said | None:
    """Read `text` against the checklist `keys`; `names` adds each key's display names."""
    said = compact(text)
    if not said or len(said) > MAX_NAMING_CHARS:
        return None
    if said in SKIP_WORDS:
        return Said("skip")
    if said in PROGRESS_WORDS:
        return Said("progress")
    number = _NUMBER.fullmatch(said)
    if number:
        index = int(number.group(1))
        return Said("item", (keys[index - 1],)) if 1 <= index <= len(keys) else None
    named = _named_items(said, keys, names)
    return Said("item", named) if named else None


def _named_items(said: str, keys: list[str], names: dict[str, list[str]]) -> tuple[str, ...]:
    by_alias: dict[str, set[str]] = {}
    for key in keys:
        for alias in (*ALIASES.get(key, ()), *names.get(key, ()), key):
            by_alias.setdefault(compact(alias), set()).add(key)
    # The longest form that is an alias is the most specific: "身份证正面照片" → 正面.
    matches = [form for form in _forms(said) if form in by_alias]
    if not matches:
        return ()
    best = by_alias[max(matches, key=len)]
    return tuple(k for k in keys if k in best)


def _forms(said: str) -> set[str]:
    """`said` with any combination of filler prefixes and suffixes taken off."""
    seen: set[str] = set()
    todo = [said]
    while todo:
        form = todo.pop()
        if not form or form in seen:
            continue
        seen.add(form)
        todo.extend(form[len(p) :] for p in _PREFIXES if form.startswith(p))
        todo.extend(form[: -len(s)] for s in _SUFFIXES if form.endswith(s))
    return seen
