"""/withdraw <candidate>, then `/withdraw <offer id> confirm` within 10 minutes.

The same pattern as /forget: the pending confirmation is a `KeyValue` row bound to the
admin who asked. The withdrawal itself is `ats.withdraw_offer`, the one
`POST /api/v1/offers/{id}/withdraw` runs (the candidate is told if they saw the offer).
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.commands.registry import Ctx, candidate_maybe_confirmed, command
from bot.history_text import candidate_title, clip
from bot.storage.models import KeyValue, Offer, Requisition
from bot.usecases import ats

CONFIRM_WITHIN = timedelta(minutes=10)
_ID = re.compile(r"^#?(\d{1,9})$")


def confirmation_key(actor: str, offer_id: int) -> str:
    return f"withdraw:{actor}:{offer_id}"


@command("withdraw", parse=candidate_maybe_confirmed)
async def withdraw(ctx: Ctx, args: tuple[str, bool]) -> None:
    query, confirmed = args
    if confirmed:
        await _confirm(ctx, query)
        return
    candidate = await ctx.candidate(query)
    if candidate is None:
        return
    who = candidate_title(ctx.style, candidate)
    offer = (
        await Offer.filter(candidate_id=candidate.id, status__in=ats.OPEN_OFFER_STATUSES)
        .order_by("-id")
        .first()
    )
    if offer is None:
        await ctx.answer(ctx.t("commands.withdraw.no_offer", who=who), suffix=":none")
        return
    await KeyValue.update_or_create(
        key=confirmation_key(ctx.actor, offer.id),
        defaults={
            "value": {"offer_id": offer.id, "requested_by": ctx.actor},
            "expires_at": ctx.fx.now() + CONFIRM_WITHIN,
        },
    )
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
    m = _ID.match(query)
    if not m:
        await ctx.answer(ctx.t("commands.withdraw.confirm_by_id"), suffix=":usage")
        return
    offer_id = int(m.group(1))
    key = confirmation_key(ctx.actor, offer_id)
    pending = await KeyValue.get_or_none(key=key, expires_at__gt=ctx.fx.now())
    offer = await Offer.get_or_none(id=offer_id)
    if pending is None or offer is None:
        await ctx.answer(ctx.t("commands.withdraw.not_pending", id=offer_id), suffix=":late")
        return
    await KeyValue.filter(key=key).delete()
    try:
        offer = await ats.withdraw_offer(ctx.fx, offer)
    except ats.Conflict:
        status = ctx.style.status(offer.status)
        await ctx.answer(ctx.t("commands.withdraw.closed", id=offer_id, status=status))
        return
    await ctx.answer(ctx.t("commands.withdraw.done", id=offer_id))
