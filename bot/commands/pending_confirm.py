"""Two-step commands (`/forget`, `/withdraw`): the request, then `<command> <id> confirm`
within 10 minutes. The pending request is a `KeyValue` row with `expires_at`, bound to the
admin who asked, so it survives restarts and another admin cannot confirm by accident."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.commands.registry import Ctx
from bot.storage.models import Candidate, KeyValue

CONFIRM_WITHIN = timedelta(minutes=10)
_ID = re.compile(r"^#?(\d{1,9})$")


async def step(
    ctx: Ctx,
    args: tuple[str, bool],
    *,
    ask: Callable[[Ctx, Candidate], Awaitable[None]],
    confirm: Callable[[Ctx, str], Awaitable[None]],
) -> None:
    """The two steps' dispatch: `<command> <id> confirm` confirms; anything else names a
    candidate (the lookup answers for itself when nobody or several match), then asks."""
    query, confirmed = args
    if confirmed:
        await confirm(ctx, query)
        return
    candidate = await ctx.candidate(query)
    if candidate is not None:
        await ask(ctx, candidate)


def confirmation_key(command: str, actor: str, target_id: int) -> str:
    return f"{command}:{actor}:{target_id}"


async def ask(ctx: Ctx, command: str, target_id: int, value: dict[str, Any]) -> None:
    """Remember that `ctx.actor` asked for `command` on `target_id`."""
    await KeyValue.update_or_create(
        key=confirmation_key(command, ctx.actor, target_id),
        defaults={
            "value": {**value, "requested_by": ctx.actor},
            "expires_at": ctx.fx.now() + CONFIRM_WITHIN,
        },
    )


def target_of(query: str) -> int | None:
    """The id a confirmation names ("12", "#12"), else None."""
    m = _ID.match(query)
    return int(m.group(1)) if m else None


async def take(ctx: Ctx, command: str, target_id: int) -> bool:
    """True (and forgotten) when `ctx.actor` asked for it within the last 10 minutes."""
    key = confirmation_key(command, ctx.actor, target_id)
    if await KeyValue.get_or_none(key=key, expires_at__gt=ctx.fx.now()) is None:
        return False
    await KeyValue.filter(key=key).delete()
    return True
