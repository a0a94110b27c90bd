"""Routers (the aiogram 3 way): who gets an Inbound, a due timer, or delivery news.

Each flow declares a `Router` and its handlers with the filters they accept:

    router = Router("offer")

    @router.turn(private, known_candidate, kind("text"), name="offer_reply")
    async def on_reply(turn: Turn) -> None: ...     # handled; `raise SkipHandler` = not mine

    @router.timer("offer_remind")
    async def remind(fx, timer) -> None: ...

    @router.delivered
    async def started(fx, outbox_row) -> None: ...

    @router.undeliverable
    async def held(fx, outbox_row, reason) -> None: ...

One file, bot/flows/routes.py, composes them with `include_routers(...)`: the order there
is the order a turn is offered to handlers (a router's own handlers first, then those of
the routers it includes). Filters are checked left to right and stop at the first that
fails, so a cheap one goes before one that reads the database or classifies a reply.
Everything runs inside the worker's transaction, with the conversation row locked, so one
user's messages are handled one at a time. See docs/architecture.md.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.channels.addresses import conversation_address
from bot.channels.base import DownloadedFile, Inbound, account
from bot.channels.web import playground_enabled
from bot.channels.web.channel import PLAYGROUND_HR_ID
from bot.storage.models import Candidate, Conversation, Outbox, Timer

if TYPE_CHECKING:
    from bot.services.fx import Fx

log = logging.getLogger(__name__)


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
    # The classifier's reading of the words, taken before the transaction (routes.read_ahead).
    reading: Any = None
    # What filters found out on the way (e.g. the offer in question), for the handler.
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.inbound.text.strip()

    def is_admin(self) -> bool:
        user = account(self.inbound.platform, self.inbound.sender_id)
        if user in self.fx.settings.hr.admins:
            return True
        # The playground's HR pane is an admin while the playground is on: beside a real
        # platform, reaching the page takes the API token or a localhost bind.
        return user == f"web:{PLAYGROUND_HR_ID}" and playground_enabled(self.fx.settings)

    async def reply(self, message, key_suffix: str):
        """Answer the sender on the platform they wrote from (idempotent per inbound:
        the key carries the InboundEvent's platform and event id)."""
        key = f"reply:{self.inbound.platform}:{self.inbound.event_id}:{key_suffix}"
        return await self.fx.to_user(self.inbound.platform, self.reply_address(), message, key)

    def reply_address(self) -> str:
        """Group messages are answered in the group (HR commands), p2p to the sender;
        a channel that answers on an address of its own set it (the AI bot's req_id)."""
        reply_to = self.inbound.extra.get("reply_to")
        if isinstance(reply_to, str) and reply_to:
            return reply_to
        return conversation_address(self.inbound)


class SkipHandler(Exception):  # noqa: N818 - aiogram's name for the same thing
    """Raised by a handler whose filters matched but which, on a closer look, is not the
    one for this turn: the next handler gets it."""


class Filter:
    """A named test on a turn (sync or async); `~f` is its negation, `f | g` either."""

    def __init__(self, name: str, test: Callable[[Turn], bool | Awaitable[bool]]) -> None:
        self.name, self._test = name, test

    async def __call__(self, turn: Turn) -> bool:
        result = self._test(turn)
        return bool(await result if inspect.isawaitable(result) else result)

    def __invert__(self) -> Filter:
        async def negated(turn: Turn) -> bool:
            return not await self(turn)

        return Filter(f"not {self.name}", negated)

    def __or__(self, other: Filter) -> Filter:
        async def either(turn: Turn) -> bool:
            return await self(turn) or await other(turn)

        return Filter(f"({self.name} or {other.name})", either)

    def __repr__(self) -> str:
        return self.name


InboundHandler = Callable[[Turn], Awaitable[None]]
TimerHandler = Callable[["Fx", Timer], Awaitable[None]]
DeliveryHook = Callable[["Fx", Outbox], Awaitable[None]]
FailureHook = Callable[["Fx", Outbox, str], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    name: str
    filters: tuple[Filter, ...]
    handler: InboundHandler

    async def accepts(self, turn: Turn) -> bool:
        for check in self.filters:
            if not await check(turn):
                return False
        return True


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[Route] = []
        self.timers: dict[str, TimerHandler] = {}
        self.delivered_hooks: list[DeliveryHook] = []
        self.undeliverable_hooks: list[FailureHook] = []
        self.children: list[Router] = []

    # -- declaring -------------------------------------------------------------------

    def turn(self, *filters: Filter, name: str) -> Callable[[InboundHandler], InboundHandler]:
        """Register a handler for turns that pass every filter, in declaration order."""

        def register(fn: InboundHandler) -> InboundHandler:
            self.routes.append(Route(name, filters, fn))
            return fn

        return register

    def timer(self, kind: str) -> Callable[[TimerHandler], TimerHandler]:
        def register(fn: TimerHandler) -> TimerHandler:
            self.timers[kind] = fn
            return fn

        return register

    def delivered(self, fn: DeliveryHook) -> DeliveryHook:
        self.delivered_hooks.append(fn)
        return fn

    def undeliverable(self, fn: FailureHook) -> FailureHook:
        self.undeliverable_hooks.append(fn)
        return fn

    def include_routers(self, *routers: Router) -> Router:
        for router in routers:
            if router is self or router in self.children:
                raise ValueError(f"router {router.name} included twice")
            self.children.append(router)
        return self

    # -- walking -----------------------------------------------------------------------

    def walk(self) -> Iterator[Router]:
        """This router, then each included one (depth first, in inclusion order)."""
        yield self
        for child in self.children:
            yield from child.walk()

    def all_routes(self) -> list[Route]:
        return [route for router in self.walk() for route in router.routes]

    def all_timers(self) -> dict[str, TimerHandler]:
        found: dict[str, TimerHandler] = {}
        for router in self.walk():
            for kind, fn in router.timers.items():
                if kind in found:
                    raise ValueError(f"two handlers for timer kind {kind}")
                found[kind] = fn
        return found

    # -- dispatching -------------------------------------------------------------------

    async def route(self, turn: Turn) -> str | None:
        """Offer the turn to each handler in order; returns the name of the router (the
        flow: "offer", "commands" …) whose handler took it, None if none did."""
        for router in self.walk():
            for route in router.routes:
                if not await route.accepts(turn):
                    continue
                try:
                    await route.handler(turn)
                except SkipHandler:
                    continue
                log.debug("turn %s taken by %s", turn.inbound.event_id, route.name)
                return router.name
        return None

    async def fire(self, fx: Fx, timer: Timer) -> None:
        handler = self.all_timers().get(timer.kind)
        if handler is None:
            log.error("no handler for timer kind %s (timer %s)", timer.kind, timer.id)
            return
        await handler(fx, timer)

    async def delivered_news(self, fx: Fx, row: Outbox) -> None:
        for router in self.walk():
            for hook in router.delivered_hooks:
                await hook(fx, row)

    async def undeliverable_news(self, fx: Fx, row: Outbox, reason: str) -> None:
        for router in self.walk():
            for hook in router.undeliverable_hooks:
                await hook(fx, row, reason)

    def describe(self) -> list[str]:
        """The route table as text, one `name: filters` line per handler (for docs, tests)."""
        return [
            f"{route.name}: {', '.join(map(repr, route.filters)) or '(any)'}"
            for route in self.all_routes()
        ]
