"""`Outgoing` → WeCom JSON bodies (app messages, template cards, kf menus, HR markdown).

Pure functions, so the limits WeCom sets are visible in one place:
card titles ≤26 characters, sub-titles ≤112, button texts ≤10, ≤6 buttons, button keys
≤1024 bytes, task_id ≤128 of [0-9A-Za-z_-@]; text ≤2048 bytes; markdown ≤4096 bytes;
kf menu head ≤1024 bytes, kf msgid ≤32 of [0-9A-Za-z_-].
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bot.channels.base import Action, Outgoing
from bot.i18n import Catalog

CARD_TITLE_CHARS = 26
CARD_SUBTITLE_CHARS = 112
BUTTON_TEXT_CHARS = 10
MAX_BUTTONS = 6
BUTTON_KEY_BYTES = 1024
TEXT_BYTES = 2048
MARKDOWN_BYTES = 4096
KF_MENU_HEAD_BYTES = 1024
KF_MENU_ITEM_BYTES = 128
REPLACE_NAME_CHARS = 20

_BUTTON_STYLE = {"primary": 1, "default": 2, "danger": 3}
_TASK_ID_UNSAFE = re.compile(r"[^0-9A-Za-z_\-@]")


def _digest(value: str, length: int) -> str:
    return hashlib.sha1(value.encode()).hexdigest()[:length]  # noqa: S324 - an id, not security


def clip_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary, marked with an ellipsis."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def clip_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- ids ----------------------------------------------------------------------------------


def task_id(salt: str, idempotency_key: str) -> str:
    """A template card's task_id: unique per app *forever* (42014 otherwise), so it carries
    this installation's salt; the same key always gives the same id (retries are safe)."""
    readable = _TASK_ID_UNSAFE.sub("_", idempotency_key)[:96]
    return f"{salt}-{readable}-{_digest(idempotency_key, 16)}"[:128]


def kf_msgid(idempotency_key: str) -> str:
    return _digest(idempotency_key, 32)


def encode_button_key(action: Action) -> str:
    """The click's payload travels in the button key: {"action": key, **value}."""
    full = json.dumps(
        {**action.value, "action": action.key},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    if len(full.encode()) <= BUTTON_KEY_BYTES:
        return full
    return json.dumps({"action": action.key[:200]}, ensure_ascii=False)


def decode_button_key(key: str) -> dict[str, Any]:
    """Inverse of `encode_button_key`; a key that is not ours is passed on as the action."""
    try:
        value = json.loads(key)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("action"), str):
        return value
    return {"action": key[:200]}


# -- words --------------------------------------------------------------------------------


def _mentions(text: str, command: str) -> bool:
    return re.search(rf"(?<![\w/]){re.escape(command)}(?!\w)", text) is not None


def commands_hint(message: Outgoing, catalog: Catalog) -> str:
    """ "You can also reply: 1 Accept; 2 Decline" — unless the text already says so."""
    actions = [a for a in message.actions if a.command]
    # Only what the text does not say already (an alert's footer names /claim, /resolve).
    missing = [a for a in actions if not _mentions(message.text, a.command)]
    if not missing:
        return ""
    items = catalog.t("channel.wecom.command_separator").join(
        catalog.t("channel.wecom.command_item", command=a.command, label=a.label) for a in missing
    )
    return catalog.t("channel.wecom.commands_hint", commands=items)


def plain_text(message: Outgoing, catalog: Catalog) -> str:
    """The message as text alone (no buttons on this path): title, text, commands."""
    parts = [*message.headed(), commands_hint(message, catalog)]
    return clip_bytes("\n".join(p for p in parts if p), TEXT_BYTES)


def markdown(message: Outgoing, catalog: Catalog) -> str:
    title, text = message.headed()
    parts = [f"**{title}**" if title else "", text]
    hint = commands_hint(message, catalog)
    if hint:
        parts.append(f"> {hint}")
    return clip_bytes("\n".join(p for p in parts if p), MARKDOWN_BYTES)


# -- app messages -------------------------------------------------------------------------


def _title_and_body(message: Outgoing) -> tuple[str, str]:
    if message.title:
        return message.headed()
    first, _, rest = message.text.strip().partition("\n")
    if len(first) <= CARD_TITLE_CHARS:
        return first, rest.strip()
    return clip_chars(first, CARD_TITLE_CHARS), message.text.strip()


def card_fits(message: Outgoing) -> bool:
    """Whether the whole text fits the card; if not, it goes first as a text message."""
    return len(_title_and_body(message)[1]) <= CARD_SUBTITLE_CHARS


def template_card(
    message: Outgoing, card_task_id: str, *, with_text: bool = True
) -> dict[str, Any]:
    """A button_interaction card: the title, the text (unless it went before the card as
    a message of its own), and up to six buttons."""
    title, body = _title_and_body(message)
    if not with_text:
        body = ""
    buttons = [
        {
            "text": clip_chars(a.label, BUTTON_TEXT_CHARS),
            "style": _BUTTON_STYLE.get(a.style, 2),
            "key": encode_button_key(a),
        }
        for a in message.actions[:MAX_BUTTONS]
    ]
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": title or "…"},
        "task_id": card_task_id,
        "button_list": buttons,
    }
    if body:
        card["sub_title_text"] = clip_chars(body, CARD_SUBTITLE_CHARS)
    return card


def replace_name(message: Outgoing) -> str:
    """What a clicked card's buttons turn into (e.g. "已接受")."""
    first = (message.title or message.text).strip().split("\n", 1)[0]
    return clip_chars(first, REPLACE_NAME_CHARS) or "✓"


# -- 微信客服 ------------------------------------------------------------------------------


def kf_menu(message: Outgoing) -> dict[str, Any]:
    """Buttons as a kf msgmenu: clicking an item sends its id — the action's command."""
    head = "\n".join(p for p in message.headed() if p)
    return {
        "head_content": clip_bytes(head, KF_MENU_HEAD_BYTES),
        "list": [
            {
                "type": "click",
                "click": {
                    "id": clip_bytes(a.command, KF_MENU_ITEM_BYTES),
                    "content": clip_bytes(a.label, KF_MENU_ITEM_BYTES),
                },
            }
            for a in message.actions
            if a.command
        ],
    }
