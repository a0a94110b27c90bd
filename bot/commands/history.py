"""/history <name, phone or id>: everything about a candidate (and their other records)."""

from __future__ import annotations

from bot.commands.registry import Ctx, command, required_text
from bot.history import load_history
from bot.history_text import render_history
from bot.services.lookup import same_person


@command("history", parse=required_text)
async def show_history(ctx: Ctx, query: str) -> None:
    candidate = await ctx.candidate(query)
    if candidate is None:
        return
    await ctx.fx.write_records()  # this turn's own events too
    h = await load_history(await same_person(candidate))
    await ctx.answer(render_history(ctx.style, h))
