"""Every channel, and building the enabled ones (docs/architecture.md, "Platform packages").

A channel is a package under bot/channels/ with `load()`, which imports its modules and
returns its `Channel` class (or a function of `Needs` that makes it). The registry builds
it from the `Needs` the composition root hands over when its config section says
`enabled`, or, for a package with no section of its own, when its `enabled(settings)`
says so. Adding a channel is adding its package and its line in `CHANNELS`.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from bot.channels import email, feishu, sms, web, wecom, wecom_bot
from bot.channels.base import Channel, Needs

if TYPE_CHECKING:
    from bot.config import Settings

# platform name (what addresses and stored rows say) -> its package, in build order
CHANNELS: dict[str, ModuleType] = {
    "wecom": wecom,
    "feishu": feishu,
    "wecom_bot": wecom_bot,
    # Outside chat (docs/sms-email.md): send-only channels the reach service picks.
    "sms": sms,
    "email": email,
    "web": web,
}


def is_on(name: str, settings: Settings) -> bool:
    decide = getattr(CHANNELS[name], "enabled", None)
    return decide(settings) if decide is not None else getattr(settings, name).enabled


def build_channels(needs: Needs) -> dict[str, Channel]:
    return {
        name: package.load()(needs)
        for name, package in CHANNELS.items()
        if is_on(name, needs.settings)
    }
