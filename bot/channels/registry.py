"""Every channel, and building the enabled ones (docs/architecture.md, "Platform packages").

A channel is a package under bot/channels/ whose `build(rt)` returns its `Channel`, or
None when the settings leave it off; a package imports its modules only when it is on.
Adding a channel is adding its package and its line in `CHANNELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.channels import email, feishu, sms, web, wecom, wecom_bot
from bot.channels.base import Channel

if TYPE_CHECKING:
    from bot.runtime import Runtime

# platform name (what addresses and stored rows say) -> its package's build, in build order
CHANNELS: dict[str, Callable[[Runtime], Channel | None]] = {
    "wecom": wecom.build,
    "feishu": feishu.build,
    "wecom_bot": wecom_bot.build,
    # Outside chat (docs/sms-email.md): send-only channels the reach service picks.
    "sms": sms.build,
    "email": email.build,
    "web": web.build,
}


def build_channels(rt: Runtime) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, build in CHANNELS.items():
        channel = build(rt)
        if channel is not None:
            channels[name] = channel
    return channels
