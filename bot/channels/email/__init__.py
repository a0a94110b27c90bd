"""E-mail over SMTP, send-only (docs/sms-email.md).

Listed in bot/channels/registry.py, which builds it when `[email] enabled`; `load()`
imports the channel's modules, so a disabled platform costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel


def load() -> type[Channel]:
    from bot.channels.email.channel import EmailChannel

    return EmailChannel
