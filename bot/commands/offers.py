"""/offers: the offers still in play (sent or accepted), oldest first, phones masked."""

from __future__ import annotations

from bot.commands.registry import Ctx, command
from bot.flows.alerts import money
from bot.history_text import clip
from bot.privacy import mask_phone
from bot.usecases import hr_chat

MAX_LISTED = 30


@command("offers")
async def show_offers(ctx: Ctx, _: None) -> None:
    offers = await hr_chat.open_offers(MAX_LISTED + 1)
    if not offers:
        await ctx.answer(ctx.t("commands.offers.none"), suffix=":none")
        return
    lines = [ctx.t("commands.offers.title", count=min(len(offers), MAX_LISTED))]
    for o in offers[:MAX_LISTED]:
        c = o.candidate
        who = clip(c.name, 20) if c.erased_at is None else f"#{c.id}"
        phone = mask_phone(c.phone) if c.erased_at is None and c.phone else ""
        state = ctx.style.status(o.status)
        if o.status == "sent" and o.delivered_at is None:
            state = ctx.t("commands.offers.not_delivered")
        lines.append(
            ctx.t(
                "commands.offers.line",
                id=o.id,
                who=f"{who} {phone}".strip(),
                job=clip(o.requisition.title, 20),
                salary=money(ctx.fx, o.salary_monthly, o.currency),
                status=state,
                deadline=ctx.style.day(o.expires_at),
            )
        )
    if len(offers) > MAX_LISTED:
        lines.append(ctx.t("commands.offers.more"))
    await ctx.answer("\n".join(lines))
