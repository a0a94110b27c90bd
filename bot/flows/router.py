"""Who gets an Inbound, a due timer, or the news that a message was (not) delivered.

Flows register themselves next to what they do (aiogram-style):

    @handles(priority=50, name="offer")
    async def on_reply(turn: Turn) -> bool: ...      # True = handled, stop here

    @on_timer("offer_remind")
    async def remind(fx, timer) -> None: ...

    @on_delivered
    async def started(fx, outbox_row) -> None: ...

    @on_undeliverable
    async def held(fx, outbox_row, reason) -> None: ...

Lower priority runs first. Everything runs inside the worker's transaction, with the
conversation row locked, so one user's messages are handled one at a time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.channels.base import DownloadedFile, Inbound
from bot.channels.registry import playground_enabled
from bot.channels.web import PLAYGROUND_HR_ID
from bot.storage.models import Candidate, Conversation, Outbox, Timer

if TYPE_CHECKING:
    from bot.services.fx import Fx

log = logging.getLogger(__name__)

# Modules that register handlers; imported once by `load_flows()`.
FLOW_MODULES = (
    "bot.commands",
    "bot.flows.binding",
    "bot.flows.documents",
    "bot.flows.offer",
    "bot.flows.reapply",
    "bot.flows.fallback",
)


@dataclass
class Turn:
    fx: Fx
    inbound: Inbound
    conversation: Conversation
    candidate: Candidate | None
    # Media the worker downloaded before the transaction (same order as inbound.media);
    # None where a download failed.
    files: list[DownloadedFile | None] = field(default_factory=list)
    download_errors: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.inbound.text.strip()

    def is_admin(self) -> bool:
        user = f"{self.inbound.platform}:{self.inbound.sender_id}"
        if user in self.fx.settings.hr.admins:
            return True
        # The playground's HR pane is an admin while the playground is on: beside a real
        # platform, reaching the page takes the API token or a localhost bind.
        return user == f"web:{PLAYGROUND_HR_ID}" and playground_enabled(self.fx.settings)

    async def reply(self, message, key_suffix: str):
        """Answer the sender on the platform they wrote from (idempotent per inbound)."""
        from bot.storage.models import InboundEvent  # noqa: F401 - documents the key's origin

        key = f"reply:{self.inbound.platform}:{self.inbound.event_id}:{key_suffix}"
        return await self.fx.to_user(self.inbound.platform, self.reply_address(), message, key)

    def reply_address(self) -> str:
        """Group messages are answered in the group (HR commands), p2p to the sender."""
        if self.inbound.chat_type == "group":
            return f"chat:{self.inbound.chat_id}"
        return self.inbound.sender_id


InboundHandler = Callable[[Turn], Awaitable[bool]]
TimerHandler = Callable[["Fx", Timer], Awaitable[None]]
DeliveryHook = Callable[["Fx", Outbox], Awaitable[None]]
FailureHook = Callable[["Fx", Outbox, str], Awaitable[None]]

_inbound_handlers: list[tuple[int, str, InboundHandler]] = []
_timer_handlers: dict[str, TimerHandler] = {}
_delivered_hooks: list[DeliveryHook] = []
_undeliverable_hooks: list[FailureHook] = []


def handles(priority: int, name: str) -> Callable[[InboundHandler], InboundHandler]:
    def register(fn: InboundHandler) -> InboundHandler:
        if all(existing != name for _, existing, _ in _inbound_handlers):
            _inbound_handlers.append((priority, name, fn))
            _inbound_handlers.sort(key=lambda item: item[0])
        return fn

    return register


def on_timer(kind: str) -> Callable[[TimerHandler], TimerHandler]:
    def register(fn: TimerHandler) -> TimerHandler:
        _timer_handlers[kind] = fn
        return fn

    return register


def on_delivered(fn: DeliveryHook) -> DeliveryHook:
    if fn not in _delivered_hooks:
        _delivered_hooks.append(fn)
    return fn


def on_undeliverable(fn: FailureHook) -> FailureHook:
    if fn not in _undeliverable_hooks:
        _undeliverable_hooks.append(fn)
    return fn


_loaded = False


def load_flows() -> None:
    global _loaded
    if _loaded:
        return
    for module in FLOW_MODULES:
        importlib.import_module(module)
    _loaded = True


async def route(turn: Turn) -> str | None:
    """Offer the turn to each handler in order; returns the name of the one that took it."""
    load_flows()
    for _, name, handler in _inbound_handlers:
        if await handler(turn):
            return name
    return None


async def fire(fx: Fx, timer: Timer) -> None:
    load_flows()
    handler = _timer_handlers.get(timer.kind)
    if handler is None:
        log.error("no handler for timer kind %s (timer %s)", timer.kind, timer.id)
        return
    await handler(fx, timer)


async def delivered(fx: Fx, row: Outbox) -> None:
    load_flows()
    for hook in _delivered_hooks:
        await hook(fx, row)


async def undeliverable(fx: Fx, row: Outbox, reason: str) -> None:
    load_flows()
    for hook in _undeliverable_hooks:
        await hook(fx, row, reason)


def registered() -> dict[str, Any]:
    """For tests and `check-config`: what is wired up."""
    load_flows()
    return {
        "inbound": [name for _, name, _ in _inbound_handlers],
        "timers": sorted(_timer_handlers),
    }
