"""E-mail over SMTP, send-only (docs/sms-email.md).

`build` is this channel's line in bot/channels/registry.py; the channel's modules are
imported only when it is on (a disabled platform costs nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.runtime import Runtime


def build(rt: Runtime) -> Channel | None:
    """The `email` channel, or None when `[email]` is off."""
    if not rt.settings.email.enabled:
        return None
    from bot.channels.email.channel import EmailChannel

    return EmailChannel(rt)
