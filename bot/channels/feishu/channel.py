"""The Feishu channel: send text, cards and images; update cards; download media; find people.

Addresses: a user is their `open_id`; `chat:<chat_id>` is a group (HR commands are
answered where they were typed); the HR group is `feishu.hr_chat_id`. Feishu drops a
repeated `uuid` within an hour, so each send derives its uuid from the outbox
idempotency key and a retry never posts twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.channels.addresses import GROUP_PREFIX, is_group_address
from bot.channels.base import (
    Channel,
    DeliveryError,
    DownloadedFile,
    MediaRef,
    Needs,
    Outgoing,
    PermanentError,
    Recipient,
    SendResult,
)
from bot.channels.feishu.api import FeishuApi
from bot.channels.feishu.render import build_card, card_json, defuse_mentions
from bot.channels.platform.files import read_chart
from bot.privacy import normalize_phone

log = logging.getLogger(__name__)

MESSAGES = "/open-apis/im/v1/messages"


def feishu_uuid(idempotency_key: str, part: str = "") -> str:
    """Feishu's de-dup key is ≤ 50 characters: a hash of ours (stable across retries)."""
    return hashlib.sha256(f"{idempotency_key}|{part}".encode()).hexdigest()[:40]


def _segment(value: str) -> str:
    """An id placed in a URL path: no way to reach another endpoint."""
    return quote(value, safe="")


class FeishuChannel(Channel):
    name = "feishu"

    def __init__(self, needs: Needs):
        super().__init__(needs)
        timeout = self.settings.delivery.http_timeout.total_seconds()
        self.api = FeishuApi(self.cfg, self.http, self.redis, self.problems, read_timeout=timeout)

    def can_reach_hr(self) -> bool:
        return bool(self.cfg.hr_chat_id)

    # -- sending ----------------------------------------------------------------------

    def _target(self, to: Recipient) -> tuple[str, str]:
        """(receive_id_type, receive_id)."""
        if to.kind == "hr_group":
            if not self.cfg.hr_chat_id:
                raise PermanentError("feishu.hr_chat_id is not set", code="no_hr_chat")
            return "chat_id", self.cfg.hr_chat_id
        if is_group_address(to.address):
            return "chat_id", to.address.removeprefix(GROUP_PREFIX)
        return "open_id", to.address

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        id_type, receive_id = self._target(to)
        if not receive_id:
            raise PermanentError("no Feishu address", code="no_address")
        in_group = id_type == "chat_id"
        if message.replaces:
            return await self._patch(message.replaces, build_card(message, in_group=in_group))
        if message.kind == "image" and message.image_key:
            if message.text:
                await self._create(
                    id_type, receive_id, "text", self._text(message), idempotency_key, "text"
                )
            chart = await read_chart(self.settings.data_dir, message.image_key)
            image_key = await self.upload_image(chart)
            return await self._create(
                id_type, receive_id, "image", {"image_key": image_key}, idempotency_key, "image"
            )
        if message.actions or message.kind == "card":
            card = build_card(message, in_group=in_group)
            return await self._create(id_type, receive_id, "interactive", card, idempotency_key)
        return await self._create(id_type, receive_id, "text", self._text(message), idempotency_key)

    @staticmethod
    def _text(message: Outgoing) -> dict[str, str]:
        title, body = message.headed()
        text = f"{title}\n{body}" if title else body
        return {"text": defuse_mentions(text)}

    async def _create(
        self,
        id_type: str,
        receive_id: str,
        msg_type: str,
        content: dict[str, Any],
        idempotency_key: str,
        part: str = "",
    ) -> SendResult:
        answer = await self.api.call(
            "POST",
            MESSAGES,
            params={"receive_id_type": id_type},
            json_body={
                "receive_id": receive_id,
                "msg_type": msg_type,
                "content": json.dumps(content, ensure_ascii=False),  # a JSON string, by API
                "uuid": feishu_uuid(idempotency_key, part),
            },
        )
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        return SendResult(message_id=str(data.get("message_id") or ""))

    async def _patch(self, message_id: str, card: dict[str, Any]) -> SendResult:
        """Replace a card we sent (both cards carry update_multi, Feishu's requirement)."""
        await self.api.call(
            "PATCH", f"{MESSAGES}/{_segment(message_id)}", json_body={"content": card_json(card)}
        )
        return SendResult(message_id=message_id)

    async def upload_image(self, data: bytes) -> str:
        """Upload an image for sending; returns Feishu's image_key."""

        def form() -> aiohttp.FormData:  # a FormData is single-use: one per attempt
            f = aiohttp.FormData()
            f.add_field("image_type", "message")
            f.add_field("image", data, filename="image.png", content_type="image/png")
            return f

        answer = await self.api.call("POST", "/open-apis/im/v1/images", form=form)
        data_field = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        image_key = data_field.get("image_key")
        if not isinstance(image_key, str) or not image_key:
            raise PermanentError("feishu image upload: no image_key in the answer")
        return image_key

    # -- receiving --------------------------------------------------------------------

    async def download(self, media: MediaRef) -> DownloadedFile:
        if not media.message_id:
            raise PermanentError("feishu media without a message id", code="no_message_id")
        path = f"{MESSAGES}/{_segment(media.message_id)}/resources/{_segment(media.key)}"
        kind = "image" if media.kind == "image" else "file"
        # The same limit as on every platform: a larger file comes back one byte over it
        # and the document checks refuse it (bot/channels/platform/download.py).
        limit = int(self.settings.storage.max_document_mb * 1024 * 1024)
        got = await self.api.download(path, {"type": kind}, limit)
        return DownloadedFile(
            data=got.data,
            filename=got.filename or media.filename,
            content_type=got.content_type,
        )

    # -- identity ---------------------------------------------------------------------

    async def find_user(self, phone: str | None, email: str | None) -> str | None:
        """open_id of a person in the app's availability scope, by mobile or e-mail."""
        body: dict[str, Any] = {"include_resigned": False}
        digits = normalize_phone(phone)
        if digits:
            mainland = len(digits) == 11 and digits.startswith("1")
            international = (phone or "").strip().startswith("+")
            body["mobiles"] = [digits if mainland or not international else f"+{digits}"]
        if email:
            body["emails"] = [email.strip()]
        if "mobiles" not in body and "emails" not in body:
            return None
        try:
            answer = await self.api.call(
                "POST",
                "/open-apis/contact/v3/users/batch_get_id",
                params={"user_id_type": "open_id"},
                json_body=body,
            )
        except DeliveryError as exc:  # the caller falls back to an invite
            log.warning("feishu user lookup failed: %s", exc)
            return None
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        for user in data.get("user_list") or []:
            if isinstance(user, dict) and isinstance(user.get("user_id"), str) and user["user_id"]:
                return user["user_id"]
        return None

    async def invite_link(self, code: str) -> str | None:
        return None  # Feishu has no entry link that carries a code: the code is typed
