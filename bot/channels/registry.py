"""Build the enabled channels from settings (lazy imports: a disabled platform costs nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.base import Channel

if TYPE_CHECKING:
    from bot.runtime import Runtime


def playground_enabled(settings) -> bool:
    """On by default with no platform; beside a real platform only when it is protected
    (an API token, or a server bound to localhost)."""
    if not settings.playground.enabled:
        return False
    if not settings.enabled_platforms:
        return True
    return bool(settings.api.token) or settings.server.host in ("127.0.0.1", "localhost", "::1")


def candidate_page_enabled(settings) -> bool:
    """The candidate page /c/{token} (docs/candidate-page.md) runs on the `web` channel:
    with a public URL to link to, or wherever the playground runs (no platform, or a
    protected one)."""
    return bool(settings.server.public_url) or playground_enabled(settings)


def build_channels(rt: Runtime) -> dict[str, Channel]:
    s = rt.settings
    channels: dict[str, Channel] = {}
    if s.wecom.enabled:
        from bot.channels.wecom.channel import WecomChannel

        channels["wecom"] = WecomChannel(rt)
    if s.feishu.enabled:
        from bot.channels.feishu.channel import FeishuChannel

        channels["feishu"] = FeishuChannel(rt)
    if s.wecom_bot.enabled:
        from bot.channels.wecom_bot.channel import WecomBotChannel

        channels["wecom_bot"] = WecomBotChannel(rt)
    # Outside chat (docs/sms-email.md): send-only channels the reach service picks.
    if s.sms.enabled:
        from bot.channels.sms.channel import SmsChannel

        channels["sms"] = SmsChannel(rt)
    if s.email.enabled:
        from bot.channels.email.channel import EmailChannel

        channels["email"] = EmailChannel(rt)
    if candidate_page_enabled(s):
        from bot.channels.web.channel import WebChannel

        # HR's side of the web channel (the HR group pane) only with the playground.
        channels["web"] = WebChannel(rt, hr=playground_enabled(s))
    return channels
