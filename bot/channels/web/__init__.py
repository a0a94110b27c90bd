"""The web channel: the candidate page (docs/candidate-page.md) and the playground
(docs/playground.md), and where each of them runs.

Listed in bot/channels/registry.py, which builds it where `enabled` says (wherever the
candidate page runs); `load()` imports the channel's module only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.channels.base import Channel, Needs


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


# The registry asks this instead of a config section's `enabled` (`web` has none).
enabled = candidate_page_enabled


def load() -> Callable[[Needs], Channel]:
    from bot.channels.web.channel import WebChannel

    # HR's side of it (the HR group pane) only with the playground.
    return lambda needs: WebChannel(needs, hr=playground_enabled(needs.settings))
