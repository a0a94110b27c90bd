"""/withdraw <candidate>, then `/withdraw <offer id> confirm` within 10 minutes.

The same pattern as /forget (bot/commands/pending_confirm.py). The withdrawal itself is
`ats.withdraw_offer`, the one `POST /api/v1/offers/{id}/withdraw` runs (the candidate is
told if they saw the offer).
"""

from __future__ import annotations

from bot.commands import pending_confirm
from bot.commands.registry import Ctx, candidate_maybe_confirmed, command
from bot.history_text import candidate_title, clip
from bot.storage.models import Candidate, Offer, Requisition
from bot.usecases import ats


@command("withdraw", parse=candidate_maybe_confirmed)
async def withdraw(ctx: Ctx, args: tuple[str, bool]) -> None:
    await pending_confirm.step(ctx, args, ask=_ask, confirm=_confirm)


async def _ask(ctx: Ctx, candidate: Candidate) -> None:
    who = candidate_title(ctx.style, candidate)
    offer = (
        await Offer.filter(candidate_id=candidate.id, status__in=ats.OPEN_OFFER_STATUSES)
        .order_by("-id")
        .first()
    )
    if offer is None:
        await ctx.answer(ctx.t("commands.withdraw.no_offer", who=who), suffix=":none")
        return
    await pending_confirm.ask(ctx, "withdraw", offer.id, {"offer_id": offer.id})
    job = await Requisition.get_or_none(id=offer.requisition_id)
    await ctx.answer(
        ctx.t(
            "commands.withdraw.ask",
            who=who,
            id=offer.id,
            job=clip(job.title if job else "", 40),
            status=ctx.style.status(offer.status),
        )
    )


async def _confirm(ctx: Ctx, query: str) -> None:
    offer_id = pending_confirm.target_of(query)
    if offer_id is None:
        await ctx.answer(ctx.t("commands.withdraw.confirm_by_id"), suffix=":usage")
        return
    offer = await Offer.get_or_none(id=offer_id)
    if offer is None or not await pending_confirm.take(ctx, "withdraw", offer_id):
        await ctx.answer(ctx.t("commands.withdraw.not_pending", id=offer_id), suffix=":late")
        return
    try:
        offer = await ats.withdraw_offer(ctx.fx, offer)
    except ats.Conflict:
        status = ctx.style.status(offer.status)
        await ctx.answer(ctx.t("commands.withdraw.closed", id=offer_id, status=status))
        return
    await ctx.answer(ctx.t("commands.withdraw.done", id=offer_id))
