"""/forget <candidate>, then `/forget <candidate id> confirm` within 10 minutes: erase.

The pending confirmation is kept by bot/commands/pending_confirm.py. The erasure
itself (PII, documents on disk, message bodies; aggregates stay) is `erase_candidate`,
shared with `DELETE /api/v1/candidates/{id}`.
"""

from __future__ import annotations

from bot.commands import pending_confirm
from bot.commands.registry import Ctx, candidate_maybe_confirmed, command
from bot.history_text import candidate_title
from bot.services.erase import erase_candidate
from bot.storage.models import Candidate


@command("forget", parse=candidate_maybe_confirmed)
async def forget(ctx: Ctx, args: tuple[str, bool]) -> None:
    await pending_confirm.step(ctx, args, ask=_ask, confirm=_confirm)


async def _ask(ctx: Ctx, candidate: Candidate) -> None:
    await pending_confirm.ask(ctx, "forget", candidate.id, {"candidate_id": candidate.id})
    await ctx.answer(
        ctx.t("commands.forget_ask", who=candidate_title(ctx.style, candidate), id=candidate.id)
    )


async def _confirm(ctx: Ctx, query: str) -> None:
    candidate_id = pending_confirm.target_of(query)
    if candidate_id is None:
        await ctx.answer(ctx.t("commands.forget_confirm_by_id"), suffix=":usage")
        return
    if not await pending_confirm.take(ctx, "forget", candidate_id):
        await ctx.answer(ctx.t("commands.forget_not_pending", id=candidate_id))
        return
    candidate = await Candidate.get_or_none(id=candidate_id, erased_at__isnull=True)
    if candidate is None:
        await ctx.answer(ctx.t("commands.forget_gone", id=candidate_id))
        return
    erased = await erase_candidate(ctx.fx, candidate)
    who = f"#{candidate_id}"  # not the name: this answer is stored after the erasure
    await ctx.answer(ctx.t("commands.forget_done", who=who, files=erased.get("files", 0)))
