"""Feishu (飞书): the bot's messages, cards and callbacks (docs/feishu.md).

Listed in bot/channels/registry.py, which builds it when `[feishu] enabled`; `load()`
imports the channel's modules, so a disabled platform costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel


def load() -> type[Channel]:
    from bot.channels.feishu.channel import FeishuChannel

    return FeishuChannel
