"""Last resort: a message nobody else took gets a friendly answer, never silence."""

from __future__ import annotations

from bot.channels.base import Outgoing
from bot.flows.router import Turn, handles


@handles(priority=1000, name="fallback")
async def fallback(turn: Turn) -> bool:
    if turn.inbound.chat_type == "group" or turn.inbound.kind == "event":
        return True  # group chatter and platform events need no answer
    await turn.reply(Outgoing(text=turn.fx.t("common.unknown_reply")), "fallback")
    return True
