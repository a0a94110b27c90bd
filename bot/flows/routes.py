"""The route table: every router, in the order a turn is offered to them.

"What happens when X arrives in state Y" starts here: the first handler, in this order,
whose filters all pass takes the turn (its router's handlers in the order they are
declared; `python -c "from bot.flows.routes import table; print(*table().describe(), sep='\\n')"`
prints the whole table). Timers go by kind and delivery news to every hook, whatever the
order. See docs/architecture.md.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from bot.channels.base import Inbound
from bot.flows.router import Router, Turn
from bot.runtime import Runtime
from bot.services.fx import Fx
from bot.storage.models import Outbox, Timer

log = logging.getLogger(__name__)

__all__ = ["Turn", "delivered", "fire", "route", "table", "undeliverable"]


@cache
def table() -> Router:
    """The root router. Built on first use: the flows (and what they import: PDF and image
    checks, charts) load when the first turn or timer comes, not when a process starts."""
    from bot.commands import dispatch as commands
    from bot.flows import binding, documents, fallback, kf_sync, offer, offer_send, reapply

    return Router("root").include_routers(
        kf_sync.router,  # a WeCom kf "there are messages" event: pull them first
        commands.router,  # `/…` and claim/resolve clicks, from anyone (non-admins refused)
        binding.router,  # an invite code, typed or in a kf entry link
        documents.router,  # files and checklist words while documents are collected
        offer.router,  # replies and clicks about the offer in play
        offer_send.router,  # the offer's delivery news and timers (no turns)
        reapply.router,  # words about a newer application that has no offer yet
        fallback.router,  # nobody took it: a friendly answer, never silence
    )


async def route(turn: Turn) -> str | None:
    """The name of the handler that took the turn (None: no route matched)."""
    return await table().route(turn)


async def fire(fx: Fx, timer: Timer) -> None:
    await table().fire(fx, timer)


async def delivered(fx: Fx, row: Outbox) -> None:
    await table().delivered_news(fx, row)


async def undeliverable(fx: Fx, row: Outbox, reason: str) -> None:
    await table().undeliverable_news(fx, row, reason)


async def read_ahead(rt: Runtime, inbound: Inbound) -> Any:
    """Read a private text message before the worker's transaction: the reader may ask an
    LLM, and no network call runs while the sender's conversation row is locked
    (docs/architecture.md). None for what is not words (a command, a file, a group)."""
    from bot.commands import dispatch as commands

    try:  # an HR command's own work before the transaction (/offer's 确认)
        prepared = await commands.read_ahead(rt, inbound)
    except Exception as exc:  # noqa: BLE001 - the command asks HR to try again
        log.warning("a command's read-ahead failed: %s", type(exc).__name__)
        prepared = None
    if prepared is not None:
        return prepared
    text = inbound.text.strip()
    if inbound.kind != "text" or inbound.chat_type != "p2p" or not text or text[0] in "/／":
        return None
    try:
        return await rt.intents.classify(text)
    except Exception as exc:  # noqa: BLE001 - the offer flow reads it again if needed
        log.warning("reading ahead failed: %s", type(exc).__name__)
        return None
