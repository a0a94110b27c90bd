"""The web channel: the candidate page (docs/candidate-page.md) and the playground
(docs/playground.md), and where each of them runs.

`build` is this channel's line in bot/channels/registry.py; the channel's module is
imported only when it is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Channel
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


def build(rt: Runtime) -> Channel | None:
    """The `web` channel wherever the candidate page runs; HR's side of it (the HR group
    pane) only with the playground."""
    if not candidate_page_enabled(rt.settings):
        return None
    from bot.channels.web.channel import WebChannel

    return WebChannel(rt, hr=playground_enabled(rt.settings))
