"""`Outgoing` → the WeCom 智能机器人 (AI bot) frames the holder sends (docs/long-connections.md).

Pure functions (what arrives: bot/channels/wecom_bot/parse.py, which also says what the
`wecom_bot` addresses are). A callback is answered on its own `req_id`:
`aibot_respond_msg` for a message, `aibot_respond_update_msg` (within 5 s) for a click;
anything else goes out as `aibot_send_msg` to a chat id (a group's chatid, or a member's
userid for 1:1).
"""

from __future__ import annotations

from typing import Any

from bot.channels.base import Outgoing
from bot.channels.wecom.render import MARKDOWN_BYTES, clip_bytes, markdown, template_card
from bot.channels.wecom_bot.parse import CHAT_PREFIX, REPLY_PREFIX, SEPARATOR, frame_id
from bot.i18n import Catalog

RESPOND = "aibot_respond_msg"
RESPOND_UPDATE = "aibot_respond_update_msg"
SEND = "aibot_send_msg"


def split_reply(address: str) -> tuple[str, str]:
    """`re:<req_id>|<address>` → (req_id, address); any other address → ("", address)."""
    if address.startswith(REPLY_PREFIX) and SEPARATOR in address:
        req_id, _, rest = address[len(REPLY_PREFIX) :].partition(SEPARATOR)
        return frame_id(req_id), rest
    return "", address


def chat_of(address: str) -> str:
    """The chatid aibot_send_msg takes: a group's chatid, or the member's userid."""
    return address[len(CHAT_PREFIX) :] if address.startswith(CHAT_PREFIX) else address


def markdown_body(message: Outgoing, catalog: Catalog) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": markdown(message, catalog)}}


def stream_body(message: Outgoing, catalog: Catalog, stream_id: str) -> dict[str, Any]:
    """An answer to a message: one finished stream frame (the AI bot's reply format)."""
    content = markdown(message, catalog)
    return {"msgtype": "stream", "stream": {"id": stream_id, "finish": True, "content": content}}


def card_body(message: Outgoing, task_id: str) -> dict[str, Any]:
    return {"msgtype": "template_card", "template_card": template_card(message, task_id)}


def updated_card(message: Outgoing, task_id: str) -> dict[str, Any]:
    """The body of `aibot_respond_update_msg`: the card again, same task_id; without
    buttons it becomes a text notice (nothing left to click)."""
    if message.actions:
        card = template_card(message, task_id)
    else:
        card = {
            "card_type": "text_notice",
            "main_title": {"title": clip_bytes(message.title or "✓", 78)},
            "sub_title_text": clip_bytes(message.text, MARKDOWN_BYTES // 4),
            "task_id": task_id,
        }
    return {"response_type": "update_template_card", "template_card": card}
