"""WeCom: the app (企业微信应用), 微信客服 and the HR group robot (docs/wecom.md).

`build` is this channel's line in bot/channels/registry.py; the channel's modules are
imported only when it is on (a disabled platform costs nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.runtime import Runtime


def build(rt: Runtime) -> Channel | None:
    """The `wecom` channel, or None when `[wecom]` is off."""
    if not rt.settings.wecom.enabled:
        return None
    from bot.channels.wecom.channel import WecomChannel

    return WecomChannel(rt)
