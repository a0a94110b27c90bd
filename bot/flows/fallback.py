"""Last resort: a message nobody else took gets a friendly answer, never silence."""

from __future__ import annotations

from bot.channels.base import Outgoing
from bot.flows.filters import group, kind
from bot.flows.router import Router, Turn

router = Router("fallback")


@router.turn(group | kind("event"), name="fallback_silent")
async def nothing_to_say(turn: Turn) -> None:
    """Group chatter and platform events need no answer."""


@router.turn(name="fallback")
async def fallback(turn: Turn) -> None:
    await turn.reply(Outgoing(text=turn.fx.t("common.unknown_reply")), "fallback")
