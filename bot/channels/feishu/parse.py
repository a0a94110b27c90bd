"""Feishu events and card clicks into `Inbound` / `Click`, without I/O.

The request envelope is opened and checked first (bot/channels/feishu/crypto.py); what it
carries is read here. Nothing is stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.channels.base import Inbound, MediaRef
from bot.channels.feishu.crypto import epoch_seconds
from bot.channels.feishu.render import UI_KEY
from bot.channels.platform.errors import Rejected

PLATFORM = "feishu"

_MENTION = re.compile(r"@_user_\d+")


# -- parsing into Inbound ---------------------------------------------------------------


def _dict(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise Rejected(400, f"malformed event: {key} must be an object")
    return value


def _str(parent: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = parent.get(key)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise Rejected(400, f"malformed event: {key} must be a non-empty string")


def _event_time(value: Any) -> datetime | None:
    seconds = epoch_seconds(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


@dataclass(frozen=True)
class Mentions:
    text: str
    mentioned_bot: bool


def resolve_mentions(text: str, mentions: Any) -> Mentions:
    """`@_user_1 /pending` → `/pending`: the bot's placeholder is removed, other people's
    become `@Name`. The bot is the mention Feishu marks `mentioned_type: "bot"`."""
    by_key: dict[str, dict[str, Any]] = {}
    for m in mentions if isinstance(mentions, list) else []:
        if isinstance(m, dict) and isinstance(m.get("key"), str):
            by_key[m["key"]] = m
    mentioned_bot = any(m.get("mentioned_type") == "bot" for m in by_key.values())

    def replace(match: re.Match[str]) -> str:
        m = by_key.get(match.group(0))
        if m is None or m.get("mentioned_type") == "bot":
            return ""
        name = m.get("name")
        return f"@{name}" if isinstance(name, str) and name else ""

    cleaned = _MENTION.sub(replace, text)
    return Mentions(re.sub(r"[ \t]{2,}", " ", cleaned).strip(), mentioned_bot)


def _post_parts(content: dict[str, Any]) -> tuple[str, list[str]]:
    """Rich text: its words (title first) and image keys. May be wrapped per locale."""
    if "content" not in content:
        for value in content.values():  # {"zh_cn": {...}}: take the first locale
            if isinstance(value, dict):
                content = value
                break
    words: list[str] = []
    images: list[str] = []
    title = content.get("title")
    if isinstance(title, str) and title:
        words.append(title)
    for line in content.get("content") or []:
        if not isinstance(line, list):
            continue
        parts = []
        for node in line:
            if not isinstance(node, dict):
                continue
            tag = node.get("tag")
            if tag in ("text", "a", "md") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            elif tag == "at" and node.get("user_name"):
                parts.append(f"@{node['user_name']}")
            elif tag in ("img", "media") and isinstance(node.get("image_key"), str):
                images.append(node["image_key"])
        if parts:
            words.append("".join(parts))
    return "\n".join(words), images


def parse_message(payload: dict[str, Any]) -> Inbound | None:
    """`im.message.receive_v1` → Inbound, or None when it needs no handling (messages
    from apps, group chatter without @bot). De-dup key: the message id, because Feishu
    may re-deliver one message under a new event_id."""
    event = _dict(payload, "event")
    sender = _dict(event, "sender")
    message = _dict(event, "message")
    if sender.get("sender_type", "user") != "user":
        return None
    open_id = _str(_dict(sender, "sender_id"), "open_id")
    message_id = _str(message, "message_id")
    chat_type = "group" if message.get("chat_type") == "group" else "p2p"
    message_type = _str(message, "message_type")
    raw_content = _str(message, "content", required=False) or "{}"
    try:
        content = json.loads(raw_content)
    except (ValueError, RecursionError) as exc:
        raise Rejected(400, "malformed event: content is not JSON") from exc
    if not isinstance(content, dict):
        raise Rejected(400, "malformed event: content must be an object")

    kind = "text"
    text = ""
    media: list[MediaRef] = []
    event_info: dict[str, Any] = {}
    if message_type == "text":
        text = content.get("text") if isinstance(content.get("text"), str) else ""
    elif message_type == "image":
        media.append(MediaRef(kind="image", key=_str(content, "image_key"), message_id=message_id))
        kind = "image"
    elif message_type in ("file", "audio", "media"):
        media.append(
            MediaRef(
                kind="file",
                key=_str(content, "file_key"),
                message_id=message_id,
                filename=_str(content, "file_name", required=False),
            )
        )
        kind = "file"
    elif message_type == "post":
        text, images = _post_parts(content)
        media = [MediaRef(kind="image", key=k, message_id=message_id) for k in images]
        kind = "image" if media else "text"
    else:  # stickers, shared chats, cards...: nothing to read, but never dropped silently
        kind = "event"
        event_info = {"event": "unsupported_message", "message_type": message_type}

    mentions = resolve_mentions(text, message.get("mentions"))
    if chat_type == "group" and not mentions.mentioned_bot:
        return None  # group messages matter only when addressed to the bot
    return Inbound(
        platform=PLATFORM,
        event_id=message_id,
        sender_id=open_id,
        chat_type=chat_type,
        chat_id=message.get("chat_id") if isinstance(message.get("chat_id"), str) else "",
        kind=kind,
        text=mentions.text,
        media=tuple(media),
        event=event_info,
        mentioned_bot=mentions.mentioned_bot,
        at=_event_time(message.get("create_time")),
        extra={"message_id": message_id, "message_type": message_type},
    )


MAX_FORM_VALUE = 2000  # one input's text, as much as a typed command may carry


@dataclass(frozen=True)
class Click:
    """A card button click: what to store, and what the card said (to answer at once)."""

    inbound: Inbound
    ui: dict[str, Any]  # the card context we put in the button (see render.py)


def parse_click(payload: dict[str, Any]) -> Click:
    """`card.action.trigger` → Inbound(kind="action", action=<the button's value>)."""
    header = _dict(payload, "header")
    event = _dict(payload, "event")
    operator = _dict(event, "operator")
    action = _dict(event, "action")
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    value = action.get("value")
    if isinstance(value, str):
        value = {"action": value}
    if not isinstance(value, dict):
        raise Rejected(400, "malformed event: action.value must be an object")
    value = dict(value)
    form = action.get("form_value")
    if isinstance(form, dict):  # a form's submit: the inputs' values, as text
        value["form"] = {
            str(k)[:64]: v[:MAX_FORM_VALUE]
            for k, v in list(form.items())[:20]
            if isinstance(v, str)
        }
    ui = value.pop(UI_KEY, None)
    ui = ui if isinstance(ui, dict) else {}
    chat_id = context.get("open_chat_id") if isinstance(context.get("open_chat_id"), str) else ""
    message_id = context.get("open_message_id")
    message_id = message_id if isinstance(message_id, str) else ""
    inbound = Inbound(
        platform=PLATFORM,
        event_id=_str(header, "event_id"),
        sender_id=_str(operator, "open_id"),
        chat_type="group" if ui.get("g") else "p2p",
        chat_id=chat_id,
        kind="action",
        action=value,
        at=_event_time(header.get("create_time")),
        # The card's message id: what a later PATCH of the clicked card names (an alert's
        # cards are replaced by bot/flows/cards.py once it is claimed or resolved).
        extra={"message_id": message_id},
    )
    return Click(inbound=inbound, ui=ui)
