"""WeCom: the app (企业微信应用), 微信客服 and the HR group robot (docs/wecom.md).

Listed in bot/channels/registry.py, which builds it when `[wecom] enabled`; `load()`
imports the channel's modules, so a disabled platform costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel


def load() -> type[Channel]:
    from bot.channels.wecom.channel import WecomChannel

    return WecomChannel
