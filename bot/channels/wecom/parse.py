"""WeCom messages → `Inbound`: decrypted callback XML, and 微信客服 (kf) messages from
kf/sync_msg. Pure functions; `None` means "acknowledge, nothing to do".

Addresses: app members by their userid, kf customers as `kf:<external_userid>`, and the
kf account itself (whose events only say "come and fetch") as `kfsync:<open_kfid>`.
De-duplication keys: `msg:<MsgId>` for messages, `evt:<FromUserName>:<CreateTime>:...`
for events (WeCom's own rule), `kf:<msgid>` for kf messages.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from bot.channels.addresses import KF_PREFIX
from bot.channels.base import Inbound, MediaRef
from bot.channels.wecom.render import decode_button_key

PLATFORM = "wecom"
__all__ = ["KF_PREFIX", "PLATFORM", "callback_inbound", "kf_inbound"]
KF_SYNC_PREFIX = "kfsync:"
KF_ORIGIN_CUSTOMER = 3  # 4 = system event, 5 = a human servicer's own message


def _short_hash(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()[:12]  # noqa: S324 - a de-dup key, not security


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _text(fields: dict[str, Any], key: str) -> str:
    value = fields.get(key, "")
    return value if isinstance(value, str) else ""


# -- callbacks (app chat) ---------------------------------------------------------------


def callback_inbound(msg: dict[str, Any]) -> Inbound | None:
    """The decrypted callback of the self-built app (see wecom.md §3)."""
    msg_type = _text(msg, "MsgType")
    if msg_type == "event":
        return _event_inbound(msg)
    sender, msg_id = _text(msg, "FromUserName"), _text(msg, "MsgId")
    if not sender or not msg_id:
        return None
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_id": f"msg:{msg_id}",
        "sender_id": sender,
        "at": _when(msg.get("CreateTime")),
    }
    if msg_type == "text":
        return Inbound(kind="text", text=_text(msg, "Content"), **common)
    media_id = _text(msg, "MediaId")
    if msg_type == "image" and media_id:
        return Inbound(kind="image", media=(MediaRef(kind="image", key=media_id),), **common)
    if msg_type == "file" and media_id:  # undocumented for apps, but handled if it comes
        name = _text(msg, "Title") or _text(msg, "FileName")
        media = MediaRef(kind="file", key=media_id, filename=name)
        return Inbound(kind="file", media=(media,), **common)
    # voice, video, location, link: nothing the flows read; an empty text gets a polite answer
    return Inbound(kind="text", text="", extra={"msgtype": msg_type}, **common)


def _event_inbound(msg: dict[str, Any]) -> Inbound | None:
    event = _text(msg, "Event")
    created = _text(msg, "CreateTime")
    if event == "template_card_event":
        sender = _text(msg, "FromUserName")
        key, task_id = _text(msg, "EventKey"), _text(msg, "TaskId")
        if not sender or not key:
            return None
        return Inbound(
            platform=PLATFORM,
            event_id=f"evt:{sender}:{created}:{event}:{_short_hash(task_id + key)}",
            sender_id=sender,
            kind="action",
            action=decode_button_key(key),
            at=_when(created),
            card_ref=_text(msg, "ResponseCode"),
            extra={"task_id": task_id},
        )
    if event == "kf_msg_or_event":
        token, open_kfid = _text(msg, "Token"), _text(msg, "OpenKfId")
        if not open_kfid:
            return None
        return Inbound(
            platform=PLATFORM,
            event_id=f"evt:{KF_SYNC_PREFIX}{open_kfid}:{created}:{event}:{_short_hash(token)}",
            sender_id=f"{KF_SYNC_PREFIX}{open_kfid}",
            kind="event",
            event={"event": event, "token": token, "open_kfid": open_kfid},
            at=_when(created),
        )
    # enter_agent, subscribe, menu clicks...: nothing the bot acts on.
    return None


# -- 微信客服 (kf/sync_msg entries) -------------------------------------------------------


def kf_inbound(msg: dict[str, Any]) -> Inbound | None:
    """One entry of kf/sync_msg's msg_list. Customers' messages and the enter_session
    event become Inbounds; servicers' own messages and other system events do not."""
    if not isinstance(msg, dict):
        return None
    msgid = msg.get("msgid")
    if not isinstance(msgid, str) or not msgid:
        return None
    event_id = f"kf:{msgid}"
    at = _when(msg.get("send_time"))
    msg_type = msg.get("msgtype")
    if msg_type == "event":
        return _kf_event(msg.get("event"), event_id, at)
    external = msg.get("external_userid")
    if msg.get("origin") != KF_ORIGIN_CUSTOMER or not isinstance(external, str) or not external:
        return None
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_id": event_id,
        "sender_id": f"{KF_PREFIX}{external}",
        "at": at,
    }
    extra = {"open_kfid": msg.get("open_kfid", "")}
    body = msg.get(msg_type) if isinstance(msg_type, str) else None
    body = body if isinstance(body, dict) else {}
    if msg_type == "text":
        # A msgmenu click arrives as text with the clicked item's id: our command ("1").
        menu_id = body.get("menu_id")
        text = menu_id if isinstance(menu_id, str) and menu_id else body.get("content", "")
        return Inbound(kind="text", text=str(text), extra=extra, **common)
    media_id = body.get("media_id")
    if msg_type in ("image", "file") and isinstance(media_id, str) and media_id:
        media = MediaRef(kind=msg_type, key=media_id)
        return Inbound(kind=msg_type, media=(media,), extra=extra, **common)
    return Inbound(kind="text", text="", extra={**extra, "msgtype": str(msg_type)}, **common)


def _kf_event(event: Any, event_id: str, at: datetime | None) -> Inbound | None:
    if not isinstance(event, dict) or event.get("event_type") != "enter_session":
        return None
    external = event.get("external_userid")
    if not isinstance(external, str) or not external:
        return None
    return Inbound(
        platform=PLATFORM,
        event_id=event_id,
        sender_id=f"{KF_PREFIX}{external}",
        kind="event",
        event={
            "event": "enter_session",
            "scene": str(event.get("scene") or ""),
            "scene_param": str(event.get("scene_param") or ""),
            "welcome_code": str(event.get("welcome_code") or ""),
        },
        binding_code=str(event.get("scene_param") or ""),  # the entry link's invite code
        at=at,
        extra={"open_kfid": event.get("open_kfid", "")},
    )
