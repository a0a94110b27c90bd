"""What the page sends, as the `Inbound` a platform would deliver.

The candidate pane writes as a web user in a private chat; the HR pane writes as the
playground's HR user in the HR group chat. Event ids are `<sender>/<the page's message
id>`: a post the page retries is de-duplicated like a platform's retry, and a pane can
list what its user typed (feed.py).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.channels.base import HR_GROUP, Inbound, MediaRef
from bot.channels.web.channel import PLAYGROUND_HR_ID

PLATFORM = "web"
HR_CHAT_ID = HR_GROUP  # the HR pane writes into the group chat `chat:hr_group`
USER_ID = r"^[A-Za-z0-9_.:-]{1,64}$"  # a web user id, e.g. "demo-3f9a1c-a"
CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"  # the page's id for one message
_USER_ID, _CLIENT_ID = re.compile(USER_ID), re.compile(CLIENT_ID)
MAX_TEXT = 2000
MAX_ACTION_KEYS = 12

ActionValue = str | int | float | bool | None


class BadInput(ValueError):
    """A request the page should not have sent; names the field to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def inbound_event_id(sender: str, message_id: str) -> str:
    return f"{sender}/{message_id}"


def new_client_id() -> str:
    return uuid.uuid4().hex


class SendBody(BaseModel):
    """A typed message, a button click, or an opened invite link."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["candidate", "hr"]
    user: str | None = Field(None, pattern=USER_ID)  # the candidate's web id
    text: str = Field("", max_length=MAX_TEXT)
    action: dict[str, ActionValue] | None = None  # a button: {"action": key, **value}
    # Opening an invite link (/playground?code=...): like WeCom's kf entry-link event.
    invite_code: str | None = Field(None, pattern=r"^\d{6}$")
    client_id: str = Field(default_factory=new_client_id, pattern=CLIENT_ID)

    @field_validator("action")
    @classmethod
    def _action(cls, v: dict[str, ActionValue] | None) -> dict[str, ActionValue] | None:
        if v is None:
            return v
        if not isinstance(v.get("action"), str) or not v["action"]:
            raise ValueError("needs an 'action' key naming the button")
        if len(v) > MAX_ACTION_KEYS:
            raise ValueError(f"at most {MAX_ACTION_KEYS} keys")
        for key, value in v.items():
            if len(key) > 64 or (isinstance(value, str) and len(value) > 200):
                raise ValueError(f"{key[:64]}: too long")
        return v


def _check_candidate(user: str | None) -> str:
    if not user:
        raise BadInput("user", "required when role is 'candidate'")
    if not _USER_ID.match(user):
        raise BadInput("user", "not a web user id")
    if user in (PLAYGROUND_HR_ID, HR_GROUP):
        raise BadInput("user", "that id belongs to HR")
    return user


def _sender(role: str, user: str | None) -> dict[str, Any]:
    if role == "hr":
        return {
            "sender_id": PLAYGROUND_HR_ID,
            "chat_type": "group",
            "chat_id": HR_CHAT_ID,
            "mentioned_bot": True,
            "sender_name": "HR",  # how cards name who claimed (a platform gives the name)
        }
    return {"sender_id": _check_candidate(user), "chat_type": "p2p"}


def _content(body: SendBody) -> dict[str, Any]:
    given = [bool(body.text.strip()), bool(body.action), body.invite_code is not None]
    if given.count(True) != 1:
        raise BadInput("body", "send one of 'text', 'action' or 'invite_code'")
    if body.action:
        return {"kind": "action", "action": body.action}
    if body.invite_code:
        if body.role != "candidate":
            raise BadInput("invite_code", "only a candidate opens an invite link")
        event = {"event": "enter_session", "scene_param": body.invite_code}
        return {"kind": "event", "event": event, "binding_code": body.invite_code}
    return {"kind": "text", "text": body.text.strip()}


def message_inbound(body: SendBody, now: datetime) -> Inbound:
    """The Inbound for a validated `SendBody`; BadInput when its parts do not fit."""
    sender = _sender(body.role, body.user)
    content = _content(body)
    return Inbound(
        platform=PLATFORM,
        event_id=inbound_event_id(sender["sender_id"], body.client_id),
        at=now,
        **content,
        **sender,
    )


def check_uploader(user: str, client_id: str) -> None:
    """The form fields of an upload (checked before the file is stored)."""
    _check_candidate(user)
    if not _CLIENT_ID.match(client_id):
        raise BadInput("client_id", "8-64 letters, digits, '_' or '-'")


def upload_inbound(user: str, client_id: str, media: MediaRef, now: datetime) -> Inbound:
    """A candidate's photo or file, as a platform delivers one: a media key to download."""
    return Inbound(
        platform=PLATFORM,
        event_id=inbound_event_id(user, client_id),
        kind=media.kind,
        media=(media,),
        at=now,
        **_sender("candidate", user),
    )
