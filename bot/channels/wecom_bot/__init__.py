"""WeCom 智能机器人: the channel behind the long connection (docs/long-connections.md).

Listed in bot/channels/registry.py, which builds it when `[wecom_bot] enabled`; `load()`
imports the channel's modules, so a disabled platform costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel


def load() -> type[Channel]:
    from bot.channels.wecom_bot.channel import WecomBotChannel

    return WecomBotChannel
