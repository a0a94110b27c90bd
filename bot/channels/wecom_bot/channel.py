"""The `wecom_bot` channel: WeCom 智能机器人 (AI bot), the HR side (docs/long-connections.md).

Only one process holds the bot's long connection (bot/transports/wecom_bot), so this
channel does not send itself: it turns an `Outgoing` into AI-bot frames and hands them
to the holder through Redis (bot/channels/wecom_bot/relay.py), then waits for WeCom's
回执. By address (bot/channels/wecom_bot/render.py):
- the HR group → `aibot_send_msg` to `hr_chat_id`: a `button_interaction` card when the
  message has buttons (an alert's 认领 / 已处理), markdown otherwise. An alert too long
  for a card goes first as markdown, then the card with its title and buttons;
- `re:<req_id>|<address>` → `aibot_respond_msg` on the callback (HR commands), or
  `aibot_send_msg` to the address when WeCom no longer takes an answer on that req_id;
- `Outgoing.replaces` = `<req_id>|<task_id>` → `aibot_respond_update_msg`: the clicked
  card shows who claimed / resolved the alert;
- `chat:<chatid>` or a member's userid → `aibot_send_msg`.
"""

from __future__ import annotations

import hashlib

from redis.exceptions import RedisError

from bot.channels.base import (
    HR_GROUP,
    Channel,
    Needs,
    Outgoing,
    PermanentError,
    Recipient,
    SendResult,
    TransientError,
)
from bot.channels.wecom.render import card_fits, task_id
from bot.channels.wecom_bot.relay import Frame, submit
from bot.channels.wecom_bot.render import (
    RESPOND,
    RESPOND_UPDATE,
    SEND,
    SEPARATOR,
    card_body,
    chat_of,
    markdown_body,
    split_reply,
    stream_body,
    updated_card,
)

# Errors worth trying again later: system busy, rate limits.
TRANSIENT_ERRCODES = {-1, 45009, 45033}


class WecomBotChannel(Channel):
    name = "wecom_bot"

    def __init__(self, needs: Needs):
        super().__init__(needs)
        # task_ids are kept unique per bot: the bot id's digest, then the row's key
        self._salt = hashlib.sha1(self.cfg.bot_id.encode()).hexdigest()[:8]  # noqa: S324

    def can_reach_hr(self) -> bool:
        return bool(self.cfg.hr_chat_id)

    def frames(self, to: Recipient, message: Outgoing, key: str) -> list[Frame]:
        catalog = self.catalog
        if message.replaces:
            req_id, _, task = message.replaces.partition(SEPARATOR)
            return [Frame(key, RESPOND_UPDATE, updated_card(message, task), req_id=req_id)]
        req_id, target = split_reply(to.address)
        if to.kind == "hr_group" or to.address == HR_GROUP:
            req_id, chat = "", self.cfg.hr_chat_id
        else:
            chat = chat_of(target)
        if not chat:
            raise PermanentError("wecom_bot: no chat to send to (is hr_chat_id set?)")
        if message.actions:
            card = task_id(self._salt, key)
            if card_fits(message):
                return [Frame(key, SEND, {"chatid": chat, **card_body(message, card)})]
            text = Frame(f"{key}#text", SEND, {"chatid": chat, **markdown_body(message, catalog)})
            # The card keeps the title line (which alert: "🤔 候选人犹豫 · #3"), not the text.
            title = message.headed()[0] or message.text.strip().partition("\n")[0]
            short = message.model_copy(update={"title": title, "text": ""})
            return [text, Frame(key, SEND, {"chatid": chat, **card_body(short, card)})]
        if req_id:
            body = stream_body(message, catalog, task_id(self._salt, key))
            return [Frame(key, RESPOND, body, req_id=req_id, fallback_chat=chat)]
        return [Frame(key, SEND, {"chatid": chat, **markdown_body(message, catalog)})]

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        if self.redis is None:
            raise TransientError("wecom_bot: Redis is not reachable")
        frames = self.frames(to, message, idempotency_key)
        wait = self.cfg.send_timeout.total_seconds()
        try:
            answer = await submit(self.redis, self.cfg.bot_id, frames, wait)
        except (RedisError, OSError) as exc:
            raise TransientError(f"wecom_bot: Redis: {type(exc).__name__}") from exc
        if answer is None:
            raise TransientError("wecom_bot: no connection holder answered in time")
        if answer.ok:
            return SendResult(answer.message_ids[-1] if answer.message_ids else "")
        reason = f"wecom_bot: {answer.errmsg or 'refused'}"
        if answer.transient or answer.errcode in TRANSIENT_ERRCODES:
            raise TransientError(reason)
        raise PermanentError(reason, code=answer.errcode or "")
