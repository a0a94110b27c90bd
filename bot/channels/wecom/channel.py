"""The WeCom (企业微信) channel: one self-built app, its 微信客服 account and the HR group.

Where a message goes, by address:
- `<userid>` — an app member (candidate in a 待入职 department, or HR): message/send.
  Buttons become a `button_interaction` template card (task_id from the idempotency
  key; the send answer's response_code is kept as the platform message id, which is what
  `Outgoing.replaces` takes to update the card after a click). WeCom drops messages above
  30/min or 1000/h per member without an error, so those quotas are counted in Redis.
- `kf:<external_userid>` — a candidate on personal WeChat via 微信客服: kf/send_msg,
  buttons as a msgmenu whose item ids are the actions' commands. WeCom allows 5 messages
  within 48 h of the customer's last message: `session_limit` tells the worker, which
  holds what does not fit (and the offer flow alerts HR with the text).
- `chat:<chatid>` — an app group chat: appchat/send.
- the HR group — the group robot (markdown, paced to 20/min with bursts merged) when
  `hr_webhook_key` is set, else appchat to `hr_chat_id`.
Every send on message/send uses WeCom's own duplicate check, so a retry after a lost
answer is not shown twice.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import filetype
from redis.exceptions import RedisError

from bot.channels.addresses import GROUP_PREFIX, KF_PREFIX, is_kf_address
from bot.channels.base import (
    Channel,
    DownloadedFile,
    MediaRef,
    Needs,
    Outgoing,
    PermanentError,
    Recipient,
    SendResult,
    SessionLimit,
    TransientError,
)
from bot.channels.platform.files import read_chart
from bot.channels.wecom.api import GIVE_UP_ERRORS, WecomApi, WecomApiError
from bot.channels.wecom.crypto import CallbackCrypto
from bot.channels.wecom.kf import take_welcome_code
from bot.channels.wecom.render import (
    MAX_BUTTONS,
    TEXT_BYTES,
    card_fits,
    clip_bytes,
    kf_menu,
    kf_msgid,
    markdown,
    plain_text,
    replace_name,
    task_id,
    template_card,
)
from bot.channels.wecom.robot import PacedMerger
from bot.privacy import normalize_phone, scrub
from bot.storage.models import KeyValue

log = logging.getLogger(__name__)

KF_SESSION = SessionLimit(window=timedelta(hours=48), budget=5)
CHAT_PREFIX = GROUP_PREFIX
KF_INVITE_SCENE = "offer"  # add_contact_way scene; the invite code rides in scene_param
DUPLICATE_CHECK_SECONDS = 1800
USER_NOT_FOUND = 46004
TASK_ID_TAKEN = 42014
ROBOT_IMAGE_BYTES = 2 * 1024 * 1024
_MOBILE = re.compile(r"^1\d{10}$")


BAD_AES_KEY = "wecom.encoding_aes_key is not a valid EncodingAESKey"


class WecomChannel(Channel):
    name = "wecom"

    def __init__(self, needs: Needs):
        super().__init__(needs)
        self.api = WecomApi(self.cfg, self.http, self.redis, self.problems)
        self.crypto: CallbackCrypto | None
        try:
            self.crypto = CallbackCrypto(
                self.cfg.token, self.cfg.encoding_aes_key, self.cfg.corp_id
            )
            self.problems.discard_if("wecom", (BAD_AES_KEY,))  # fixed since another start
        except Exception:  # noqa: BLE001 - binascii/assert errors from a malformed key
            self.crypto = None
            self.problems.own("wecom", BAD_AES_KEY)
            log.error("wecom: %s; callbacks are refused", self.problems["wecom"])
        self.robot: PacedMerger | None = None
        if self.cfg.hr_webhook_key:
            self.robot = PacedMerger(self._post_robot_markdown, per_minute=20)
        # WeCom's silent per-member limits for app messages (attributes: tests lower them).
        self.member_per_minute = 30
        self.member_per_hour = 1000
        self._salt: str | None = None

    # -- the Channel interface ----------------------------------------------------------

    def session_limit(self, address: str) -> SessionLimit | None:
        return KF_SESSION if is_kf_address(address) else None

    def can_reach_hr(self) -> bool:
        bot = self.settings.wecom_bot
        if bot.enabled and bot.hr_chat_id:  # the AI bot's cards replace these routes
            return False
        return bool(self.cfg.hr_webhook_key or self.cfg.hr_chat_id)

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        if message.replaces:
            return await self._replace_card(to, message)
        if to.kind == "hr_group":
            return await self._send_hr(message)
        if to.address.startswith(CHAT_PREFIX):
            return await self._send_appchat(to.address[len(CHAT_PREFIX) :], message)
        if to.address.startswith(KF_PREFIX):
            return await self._send_kf(to.address[len(KF_PREFIX) :], message, idempotency_key)
        return await self._send_member(to.address, message, idempotency_key)

    async def download(self, media: MediaRef) -> DownloadedFile:
        """media/get — app and kf media alike (ids die after 3 days: the worker fetches at once)."""
        limit = int(self.settings.storage.max_document_mb * 1024 * 1024)
        got = await self.api.download(media.key, limit)
        return DownloadedFile(
            data=got.data,
            filename=got.filename or media.filename,
            content_type=got.content_type or (filetype.guess_mime(got.data) or ""),
        )

    async def find_user(self, phone: str | None, email: str | None) -> str | None:
        """The member's userid by mobile (user/getuserid). Only plausible mainland mobiles
        are asked, and misses are remembered for a day: too many failed look-ups lock the
        API for a day. E-mail look-up is not used."""
        mobile = normalize_phone(phone)
        if not mobile or not _MOBILE.match(mobile):
            return None
        miss_key = f"offerbot:wecom:nouser:{hashlib.sha256(mobile.encode()).hexdigest()[:24]}"
        if await _redis_quietly(self.redis, "exists", miss_key):
            return None
        try:
            data = await self.api.call("user/getuserid", {"mobile": mobile})
        except WecomApiError as exc:
            if exc.errcode == USER_NOT_FOUND:
                await _redis_quietly(self.redis, "set", miss_key, b"1", ex=86400)
            log.info("wecom user look-up found nobody (%s)", exc.errcode)
            return None
        except (TransientError, PermanentError) as exc:
            log.warning("wecom user look-up failed: %s", exc)
            return None
        userid = data.get("userid")
        return userid if isinstance(userid, str) and userid else None

    async def invite_link(self, code: str) -> str | None:
        """The 微信客服 entry link carrying `code` as scene_param (wecom.md §5.1): the link is
        fetched once per kf account (kf/add_contact_way with a scene) and cached; opening
        it yields an enter_session event whose scene_param is the code."""
        open_kfid = self.cfg.kf_open_kfid
        if not open_kfid:
            return None
        key = f"wecom:kf_link:{open_kfid}"
        row = await KeyValue.get_or_none(key=key)
        url = row.value.get("url") if row and isinstance(row.value, dict) else None
        if not url:
            try:
                data = await self.api.call(
                    "kf/add_contact_way", {"open_kfid": open_kfid, "scene": KF_INVITE_SCENE}
                )
            except (TransientError, PermanentError) as exc:
                log.warning("wecom kf link not available: %s", exc)
                return None
            url = data.get("url")
            if not isinstance(url, str) or not url:
                return None
            await KeyValue.update_or_create(defaults={"value": {"url": url}}, key=key)
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}scene_param={quote(code, safe='')}"

    async def close(self) -> None:
        if self.robot is not None:
            await self.robot.close()

    # -- extras the flows use -----------------------------------------------------------

    async def send_welcome(self, welcome_code: str, text: str) -> None:
        """The kf welcome after enter_session (the code works once, shortly after)."""
        body = {
            "code": welcome_code,
            "msgtype": "text",
            "text": {"content": clip_bytes(text, TEXT_BYTES)},
        }
        await self.api.call("kf/send_msg_on_event", body)

    async def update_card(self, response_code: str, text: str, userid: str | None = None) -> None:
        """Turn a card's buttons into `text` (a response code works once, for ~24 h)."""
        body: dict[str, Any] = {
            "agentid": self.cfg.agent_id,
            "response_code": response_code,
            "button": {"replace_name": text},
        }
        if userid:
            body["userids"] = [userid]
        await self.api.call("message/update_template_card", body)

    async def upload_image(self, data: bytes, filename: str = "chart.png") -> str:
        mime = filetype.guess_mime(data) or "image/png"
        return await self.api.upload("image", filename, data, mime)

    async def kf_sync_page(self, open_kfid: str, cursor: str, token: str) -> dict[str, Any]:
        body: dict[str, Any] = {"open_kfid": open_kfid, "limit": 1000}
        if cursor:
            body["cursor"] = cursor
        if token:
            body["token"] = token
        return await self.api.call("kf/sync_msg", body)

    # -- app members ----------------------------------------------------------------------

    async def _send_member(self, userid: str, message: Outgoing, key: str) -> SendResult:
        await self._member_quota(userid)
        if message.kind == "image" and message.image_key:
            media_id = await self.upload_image(await self._chart(message.image_key))
            if message.text:
                await self._app_message(userid, _text_body(plain_text(message, self.catalog)))
            data = await self._app_message(
                userid, {"msgtype": "image", "image": {"media_id": media_id}}
            )
            return SendResult(str(data.get("msgid", "")))
        if message.actions and len(message.actions) <= MAX_BUTTONS:  # else a text menu
            sent = await self._send_card(userid, message, key)
            if sent is not None:
                return sent
        data = await self._app_message(userid, _text_body(plain_text(message, self.catalog)))
        return SendResult(str(data.get("msgid", "")))

    async def _send_card(self, userid: str, message: Outgoing, key: str) -> SendResult | None:
        """The card; a text the card cannot hold goes first as a message of its own and the
        card then carries the title and buttons only. None = send it all as text instead."""
        fits = card_fits(message)
        if not fits:
            await self._app_message(userid, _text_body(clip_bytes(message.text, TEXT_BYTES)))
        card = template_card(message, task_id(await self._task_salt(), key), with_text=fits)
        try:
            data = await self._app_message(
                userid, {"msgtype": "template_card", "template_card": card}
            )
        except WecomApiError as exc:
            if exc.errcode == TASK_ID_TAKEN:  # this very card went out on an earlier attempt
                return SendResult("")
            if exc.errcode in GIVE_UP_ERRORS:
                raise
            log.warning("wecom refused the card (%s); sending it as text", exc)
            return None
        return SendResult(str(data.get("response_code") or data.get("msgid", "")))

    async def _app_message(self, userid: str, content: dict[str, Any]) -> dict[str, Any]:
        body = {
            "touser": userid,
            "agentid": self.cfg.agent_id,
            **content,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
        }
        data = await self.api.call("message/send", body)
        if data.get("invaliduser"):  # errcode 0, yet nobody got it
            self.api.check({"errcode": 81013, "errmsg": "invaliduser"}, "message/send")
        return data

    async def _member_quota(self, userid: str) -> None:
        """Count this message against the member's 30/min and 1000/h (shared in Redis;
        without Redis the message goes unmetered rather than not at all)."""
        redis = self.redis
        if redis is None:
            return
        now = time.time()
        base = f"offerbot:wecom:quota:{self.cfg.agent_id}:{userid}"
        for window, limit in ((60, self.member_per_minute), (3600, self.member_per_hour)):
            bucket = f"{base}:{window}:{int(now // window)}"
            try:
                count = await redis.incr(bucket)
                if count == 1:
                    await redis.expire(bucket, window * 2)
                if count > limit:
                    await redis.decr(bucket)  # this one was not sent
            except RedisError as exc:
                log.warning("wecom member quota not counted: %s", exc)
                return
            if count > limit:
                wait = window - now % window + 1
                raise TransientError(f"wecom member quota {limit}/{window}s reached", wait)

    async def _replace_card(self, to: Recipient, message: Outgoing) -> SendResult:
        """Update a clicked card. Only app members have cards; a code that expired or was
        used leaves the old buttons, which is cosmetic: never an alert."""
        address = to.address
        if to.kind != "user" or address.startswith((KF_PREFIX, CHAT_PREFIX)):
            return SendResult("")
        try:
            await self.update_card(message.replaces, replace_name(message), userid=address)
        except PermanentError as exc:
            log.warning("wecom card not updated: %s", exc)
        return SendResult("")

    async def _task_salt(self) -> str:
        """Per-database salt for task ids: a reinstalled bot must not reuse old ones."""
        if self._salt is None:
            row, _ = await KeyValue.get_or_create(
                key="wecom:task_salt", defaults={"value": {"salt": secrets.token_hex(4)}}
            )
            self._salt = str(row.value.get("salt", "ob"))
        return self._salt

    # -- 微信客服 ---------------------------------------------------------------------------

    async def _send_kf(self, external_userid: str, message: Outgoing, key: str) -> SendResult:
        open_kfid = self.cfg.kf_open_kfid
        if not open_kfid:
            raise PermanentError("wecom.kf_open_kfid is not set", "config")
        if message.kind == "image" and message.image_key:
            media_id = await self.upload_image(await self._chart(message.image_key))
            if message.text:
                await self._kf_message(external_userid, _text_body(message.text), key + ":text")
            image = {"msgtype": "image", "image": {"media_id": media_id}}
            return await self._kf_message(external_userid, image, key)
        if message.actions:
            content: dict[str, Any] = {"msgtype": "msgmenu", "msgmenu": kf_menu(message)}
        else:
            content = _text_body("\n".join(p for p in (message.title, message.text) if p))
        return await self._kf_message(external_userid, content, key)

    async def _kf_message(
        self, external_userid: str, content: dict[str, Any], key: str
    ) -> SendResult:
        """kf/send_msg — or, right after the customer opened the chat and before they wrote,
        send_msg_on_event with their one-shot welcome code (the only way to speak first)."""
        msgid = kf_msgid(key)
        welcome = None
        if content["msgtype"] in ("text", "msgmenu"):  # what a welcome may carry
            welcome = await take_welcome_code(self.redis, external_userid)
        if welcome:
            try:
                data = await self.api.call(
                    "kf/send_msg_on_event", {"code": welcome, "msgid": msgid, **content}
                )
                return SendResult(str(data.get("msgid", "")))
            except PermanentError as exc:
                log.info("wecom welcome code not usable (%s); sending normally", exc)
        body = {"touser": external_userid, "open_kfid": self.cfg.kf_open_kfid, "msgid": msgid}
        data = await self.api.call("kf/send_msg", {**body, **content})
        return SendResult(str(data.get("msgid", "")))

    # -- groups -----------------------------------------------------------------------------

    async def _send_hr(self, message: Outgoing) -> SendResult:
        if self.robot is not None:
            await self.robot.submit(scrub(markdown(message, self.catalog)))
            if message.kind == "image" and message.image_key:
                await self._post_robot_image(await self._chart(message.image_key))
            return SendResult("")
        if self.cfg.hr_chat_id:
            return await self._send_appchat(self.cfg.hr_chat_id, message)
        raise PermanentError("no HR group: set wecom.hr_webhook_key or wecom.hr_chat_id", "config")

    async def _send_appchat(self, chat_id: str, message: Outgoing) -> SendResult:
        """Group chats get the text alone (no cards there), with phone numbers masked."""
        text = scrub(plain_text(message, self.catalog))
        await self.api.call("appchat/send", {"chatid": chat_id, **_text_body(text)})
        if message.kind == "image" and message.image_key:
            media_id = await self.upload_image(await self._chart(message.image_key))
            body = {"chatid": chat_id, "msgtype": "image", "image": {"media_id": media_id}}
            await self.api.call("appchat/send", body)
        return SendResult("")

    async def _post_robot_markdown(self, content: str) -> None:
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        await self.api.webhook(self.cfg.hr_webhook_key, payload)

    async def _post_robot_image(self, data: bytes) -> None:
        if len(data) > ROBOT_IMAGE_BYTES:
            raise PermanentError("chart image is larger than the robot's 2 MB", "too_large")
        image = {"base64": base64.b64encode(data).decode(), "md5": hashlib.md5(data).hexdigest()}  # noqa: S324 - the robot's checksum
        await self.api.webhook(self.cfg.hr_webhook_key, {"msgtype": "image", "image": image})

    async def _chart(self, image_key: str) -> bytes:
        return await read_chart(self.settings.data_dir, image_key)


async def _redis_quietly(redis: Any, command: str, *args: Any, **kwargs: Any) -> Any:
    """A Redis nicety (caches, counters): without Redis, carry on without it."""
    if redis is None:
        return None
    try:
        return await getattr(redis, command)(*args, **kwargs)
    except RedisError as exc:
        log.warning("wecom: Redis %s failed: %s", command, exc)
        return None


def _text_body(text: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": clip_bytes(text, TEXT_BYTES)}}
