"""WeCom 智能机器人: the channel behind the long connection (docs/long-connections.md).

`build` is this channel's line in bot/channels/registry.py; the channel's modules are
imported only when it is on (a disabled platform costs nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.runtime import Runtime


def build(rt: Runtime) -> Channel | None:
    """The `wecom_bot` channel, or None when `[wecom_bot]` is off."""
    if not rt.settings.wecom_bot.enabled:
        return None
    from bot.channels.wecom_bot.channel import WecomBotChannel

    return WecomBotChannel(rt)
