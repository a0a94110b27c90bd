"""WeCom 智能机器人 (AI bot) callback frames → `Inbound` (docs/long-connections.md).

Pure functions. What arrives over the long connection:
- `aibot_msg_callback`: a message — in a group only when the bot was @-mentioned (its
  text then starts with "@<bot name>"), or 1:1. `chattype` is "group" or "single".
- `aibot_event_callback`: an event; the one the bot acts on is `template_card_event`, a
  click on one of its cards (the button key carries the action, as on the WeCom app).
Either is answered on the frame's own `req_id` (how: bot/channels/wecom_bot/render.py).

Addresses on the `wecom_bot` platform: `chat:<chatid>` for a group, `<userid>` for a
member 1:1, `re:<req_id>|<address>` for "answer this callback, else send to address".
Members are the same WeCom userids as on the app (`[hr].admins = ["wecom:zhangsan"]`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.channels.base import Inbound
from bot.channels.wecom.render import decode_button_key

PLATFORM = "wecom_bot"
ACCOUNT_PLATFORM = "wecom"  # whose user ids these are (HR admins, who claimed an alert)
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
CHAT_PREFIX = "chat:"
REPLY_PREFIX = "re:"
SEPARATOR = "|"
# What a req_id / msgid / id of ours may look like: anything else is not WeCom's.
_ID = re.compile(r"^[A-Za-z0-9_\-.:=+/@]{1,128}$")
_MENTION = re.compile(r"^(?:\s*@\S+)+\s*")
TEXT_MAX = 4000  # characters of a message kept (a command is far shorter)


def frame_id(value: Any) -> str:
    """The value if it looks like an id of WeCom's, else "" (render.py reads addresses
    with it too)."""
    return value if isinstance(value, str) and _ID.match(value) else ""


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def frame_inbound(frame: Any) -> Inbound | None:
    """The callback frame as an Inbound, or None: not a callback, or missing what it
    must carry (such a frame is logged and dropped, never stored)."""
    if not isinstance(frame, dict) or frame.get("cmd") not in (MSG_CALLBACK, EVENT_CALLBACK):
        return None
    headers, body = frame.get("headers"), frame.get("body")
    if not isinstance(headers, dict) or not isinstance(body, dict):
        return None
    req_id, msgid = frame_id(headers.get("req_id")), frame_id(body.get("msgid"))
    sender = body.get("from")
    userid = frame_id(sender.get("userid")) if isinstance(sender, dict) else ""
    # `aibotid` is not checked: the connection itself was subscribed as this bot.
    if not req_id or not msgid or not userid:
        return None
    group = body.get("chattype") == "group"
    chat_id = frame_id(body.get("chatid")) if group else ""
    if group and not chat_id:
        return None
    address = f"{CHAT_PREFIX}{chat_id}" if group else userid
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "sender_id": userid,
        "sender_name": userid,  # frames carry no names; HR know each other's userids
        "chat_type": "group" if group else "p2p",
        "chat_id": chat_id,
        "mentioned_bot": group,
        "at": _when(body.get("create_time")),
    }
    if frame["cmd"] == EVENT_CALLBACK:
        return _event(body, req_id, msgid, address, common)
    if body.get("msgtype") != "text" or not isinstance(body.get("text"), dict):
        # images, voice, files: nothing the HR side reads; a polite answer still goes out
        text, extra = "", {"msgtype": str(body.get("msgtype"))[:32]}
    else:
        content = body["text"].get("content")
        text = content if isinstance(content, str) else ""
        text, extra = (_MENTION.sub("", text) if group else text)[:TEXT_MAX], {}
    extra["reply_to"] = f"{REPLY_PREFIX}{req_id}{SEPARATOR}{address}"
    return Inbound(event_id=f"msg:{msgid}", kind="text", text=text, extra=extra, **common)


def _event(
    body: dict[str, Any], req_id: str, msgid: str, address: str, common: dict[str, Any]
) -> Inbound | None:
    event = body.get("event")
    if not isinstance(event, dict) or event.get("eventtype") != "template_card_event":
        return None  # enter_chat, feedback, disconnected_event: nothing to store
    click = event.get("template_card_event")
    if not isinstance(click, dict):
        return None
    key, task = click.get("event_key"), frame_id(click.get("task_id"))
    if not isinstance(key, str) or not key or len(key) > 1024 or not task:
        return None
    return Inbound(
        event_id=f"evt:{msgid}",
        kind="action",
        action=decode_button_key(key),
        # The click is answered by updating its card (on this req_id); words go to the chat.
        extra={"reply_to": address, "card_token": f"{req_id}{SEPARATOR}{task}"},
        **common,
    )


def disconnected_by_another(frame: Any) -> bool:
    """WeCom's `disconnected_event`: a newer connection for this bot replaced ours."""
    if not isinstance(frame, dict) or frame.get("cmd") != EVENT_CALLBACK:
        return False
    body = frame.get("body")
    event = body.get("event") if isinstance(body, dict) else None
    return isinstance(event, dict) and event.get("eventtype") == "disconnected_event"
