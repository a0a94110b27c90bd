"""/note <candidate> <text>: add an HR note to the candidate's history."""

from __future__ import annotations

from bot.commands.registry import Ctx, candidate_and_text, command
from bot.history_text import candidate_title
from bot.storage.models import Note


@command("note", parse=candidate_and_text)
async def add_note(ctx: Ctx, args: tuple[str, str]) -> None:
    query, text = args
    candidate = await ctx.candidate(query)
    if candidate is None:
        return
    await Note.create(candidate=candidate, author=ctx.actor, text=text)
    await ctx.answer(ctx.t("commands.note_added", who=candidate_title(ctx.style, candidate)))
