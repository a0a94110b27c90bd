"""Feishu (飞书): the bot's messages, cards and callbacks (docs/feishu.md).

`build` is this channel's line in bot/channels/registry.py; the channel's modules are
imported only when it is on (a disabled platform costs nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.runtime import Runtime


def build(rt: Runtime) -> Channel | None:
    """The `feishu` channel, or None when `[feishu]` is off."""
    if not rt.settings.feishu.enabled:
        return None
    from bot.channels.feishu.channel import FeishuChannel

    return FeishuChannel(rt)
