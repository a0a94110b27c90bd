"""The one small language every platform is translated into.

Channels turn WeCom XML / Feishu JSON / playground posts into `Inbound`, and `Outgoing`
into platform API calls. Nothing past `channels/` knows which platform it is on, except
to pick the channel for delivery. Both types are pydantic models so they can be stored
as JSON (inbound events, outbox rows) and read back unchanged.

Addresses are plain strings per platform; what one says (a 微信客服 customer, a group)
is asked of bot/channels/addresses.py, never parsed elsewhere. The HR group is addressed
with `HR_GROUP`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.i18n import Catalog
from bot.problems import Problems

if TYPE_CHECKING:
    import aiohttp
    from redis.asyncio import Redis

    from bot.config import Settings

HR_GROUP = "hr_group"
# Platforms whose users are another platform's accounts: the WeCom AI bot's users are
# WeCom userids, so `[hr].admins = ["wecom:zhangsan"]` holds there too.
ACCOUNT_PLATFORM = {"wecom_bot": "wecom"}


def account(platform: str, user_id: str) -> str:
    """A person as `[hr].admins` names them: `platform:user id`."""
    return f"{ACCOUNT_PLATFORM.get(platform, platform)}:{user_id}"


class MediaRef(BaseModel):
    """Where to download something a user sent (the worker fetches it, never the webhook)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["image", "file"]
    key: str  # platform media id / file key
    message_id: str = ""  # Feishu needs the message id to fetch a resource
    filename: str = ""
    size: int | None = None


class Inbound(BaseModel):
    model_config = ConfigDict(frozen=True)
    platform: str  # wecom / feishu / web
    event_id: str  # de-duplication key chosen by the channel (message id where there is one)
    sender_id: str  # platform address of the user (see module doc)
    chat_type: Literal["p2p", "group"] = "p2p"
    chat_id: str = ""
    kind: Literal["text", "image", "file", "action", "event"] = "text"
    text: str = ""
    media: tuple[MediaRef, ...] = ()
    # Button clicks: {"action": "accept" | "decline" | "question" | "claim" | "resolve" | ...,
    # plus ids such as "offer_id" / "alert_id"}
    action: dict[str, Any] = Field(default_factory=dict)
    # Non-message events: {"event": "enter_session", ...}; what flows act on is typed below.
    event: dict[str, Any] = Field(default_factory=dict)
    mentioned_bot: bool = False
    sender_name: str = ""
    at: datetime | None = None
    # A click's handle for replacing the clicked card by a later send (it becomes
    # `Outgoing.replaces`): WeCom's one-shot response code. Empty where the platform
    # updates the card another way (Feishu answers the click itself).
    card_ref: str = ""
    # An invite code the user arrived with by opening an entry link (WeCom 微信客服
    # enter_session's scene_param, the playground's invite link); typed codes stay text.
    binding_code: str = ""
    # Platform details only the channel that made this Inbound reads again (Feishu's
    # message id and type, WeCom's task id and kf account); no flow looks inside.
    # `reply_to`: the address answers go to, where the channel needs one of its own (the
    # AI bot's req_id).
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_older_payloads(cls, data: Any) -> Any:
        """Inbound rows stored before the typed fields existed carried them in `event` /
        `extra`: read back, they mean the same (pending rows survive an upgrade)."""
        if not isinstance(data, dict):
            return data
        event, extra = data.get("event"), data.get("extra")
        entered = isinstance(event, dict) and event.get("event") == "enter_session"
        if "binding_code" not in data and entered and event.get("scene_param"):
            data = {**data, "binding_code": str(event["scene_param"])}
        if "card_ref" not in data and isinstance(extra, dict) and extra.get("response_code"):
            data = {**data, "card_ref": str(extra["response_code"])}
        return data


class Action(BaseModel):
    """A button. `command` is what typing does the same (every button has a text twin)."""

    model_config = ConfigDict(frozen=True)
    key: str  # accept / decline / question / claim / resolve / reason:salary ...
    label: str
    command: str  # e.g. "1", "/claim 12"
    value: dict[str, Any] = Field(default_factory=dict)  # echoed back on click
    style: Literal["primary", "default", "danger"] = "default"
    confirm: str = ""  # a confirmation question before the click counts (decline)


class FormField(BaseModel):
    """One input of a form (Feishu cards have them); platforms without forms show only
    the message's text, which must ask for the same things (see docs/hr-commands.md)."""

    model_config = ConfigDict(frozen=True)
    name: str
    label: str
    placeholder: str = ""


class Form(BaseModel):
    """Inputs and a submit button; the submit arrives as the action `submit.key` with
    the filled values under `form`."""

    model_config = ConfigDict(frozen=True)
    fields: tuple[FormField, ...]
    submit: Action


class Outgoing(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str  # always complete on its own: the text fallback
    title: str = ""
    actions: tuple[Action, ...] = ()
    form: Form | None = None  # rendered where the platform has forms (Feishu)
    kind: Literal["text", "card", "image"] = "text"
    image_key: str = ""  # storage key of an image to upload and send (charts)
    # Card replacing a previous one (after a click): platform message id / response code.
    replaces: str = ""
    # Outside chat (docs/sms-email.md): which SMS template ("invite" / "reminder") and its
    # parameters (name, company, job, link); e-mail takes `title` as the subject and
    # makes `params["link"]` a link in its HTML part.
    template: str = ""
    params: dict[str, str] = Field(default_factory=dict)

    def headed(self) -> tuple[str, str]:
        """(title, text) where a platform shows both. A text whose first line opens or
        closes with the title (an alert's "🤔 候选人犹豫 · #3") has that line as its
        title, shown once; the text alone stays complete for the platforms without."""
        first, _, rest = self.text.partition("\n")
        first = first.strip()
        if self.title and (first.startswith(self.title) or first.endswith(self.title)):
            return first, rest.strip("\n")
        return self.title, self.text


@dataclass(frozen=True)
class Recipient:
    kind: Literal["user", "hr_group"]
    address: str


@dataclass(frozen=True)
class SendResult:
    message_id: str = ""


@dataclass(frozen=True)
class DownloadedFile:
    data: bytes
    filename: str = ""
    content_type: str = ""


class DeliveryError(Exception):
    """Base for what a channel raises when a send does not go through."""


class TransientError(DeliveryError):
    """Busy, rate limited, 5xx, timeout: try again later (after `retry_after` if known)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Will never work as it is (user out of scope, bot not in chat, invalid card)."""

    def __init__(self, reason: str, code: str | int = ""):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class SessionLimit:
    """A platform rule such as WeCom kf: at most `budget` messages within `window` after
    the user's last message."""

    window: timedelta
    budget: int


@dataclass(frozen=True)
class Needs:
    """What a channel is built from (docs/architecture.md, "Platform packages"): the
    settings (its own section and the few shared ones it reads), the HTTP session, Redis
    (None when it is not configured), the /readyz problems and the message catalog —
    never the whole runtime. The composition root (bot/compose.py) makes one for all."""

    settings: Settings
    http: aiohttp.ClientSession | None = None
    redis: Redis | None = None
    problems: Problems = field(default_factory=Problems)
    catalog: Catalog = field(default_factory=Catalog)


class Channel(ABC):
    name: str

    def __init__(self, needs: Needs) -> None:
        self.settings = needs.settings
        # Its own section of the settings (`[wecom]` for `wecom` …); None for a channel
        # without one (`web`).
        self.cfg: Any = getattr(needs.settings, self.name, None)
        self.http = needs.http
        self.redis = needs.redis
        self.problems = needs.problems
        self.catalog = needs.catalog

    @abstractmethod
    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        """Deliver once. Reuse `idempotency_key` as the platform's de-dup key where possible."""

    async def download(self, media: MediaRef) -> DownloadedFile:
        raise PermanentError(f"{self.name} cannot download media")

    def session_limit(self, address: str) -> SessionLimit | None:
        """The session window for this address, if the platform has one."""
        return None

    def can_reach_hr(self) -> bool:
        return False

    async def find_user(self, phone: str | None, email: str | None) -> str | None:
        """The platform address of a person known by phone/e-mail, if the platform can
        look it up (and the person is in the app's scope). None = unknown here."""
        return None

    async def invite_link(self, code: str) -> str | None:
        """A link that opens a chat with the bot and carries `code` (an invite code), so the
        person who opens it can be bound to their offer. None = this platform has none."""
        return None

    async def close(self) -> None:
        return None
