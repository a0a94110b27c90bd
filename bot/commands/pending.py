"""/pending: offers still waiting for the candidate, oldest first."""

from __future__ import annotations

from bot.commands.registry import Ctx, command
from bot.history_text import candidate_title, clip
from bot.storage.models import Offer

LIMIT = 20


@command("pending")
async def show_pending(ctx: Ctx, _: None) -> None:
    waiting = Offer.filter(status="sent")
    total = await waiting.count()
    if not total:
        await ctx.answer(ctx.t("commands.pending_none"))
        return
    offers = (
        await waiting.order_by("created_at", "id")
        .limit(LIMIT)
        .prefetch_related("candidate", "requisition")
    )
    now, s = ctx.fx.now(), ctx.style
    lines = [ctx.t("commands.pending_title", count=total)]
    for offer in offers:
        since = offer.delivered_at or offer.created_at
        line = ctx.t(
            "commands.pending_line",
            id=offer.id,
            who=candidate_title(s, offer.candidate),
            title=clip(offer.requisition.title, 30),
            hours=max(0, int((now - since).total_seconds() // 3600)),
            reminders=offer.reminders_sent,
            deadline=s.day(offer.expires_at) if offer.expires_at else "-",
        )
        if offer.delivered_at is None:
            line += ctx.t("commands.pending_not_delivered")
        lines.append(line)
    if total > LIMIT:
        lines.append(ctx.t("commands.more_rows", more=total - LIMIT))
    await ctx.answer("\n".join(lines))
