"""/remind <candidate>: send the candidate a reminder about their open offer now.

The words are the offer flow's reminder (`offer.reminder`) when the catalog has it; the
message still waits for quiet hours to end, like every candidate message.
"""

from __future__ import annotations

from tortoise.expressions import F

from bot.channels.base import Outgoing
from bot.commands.registry import Ctx, command, required_text
from bot.history_text import candidate_title
from bot.storage.models import Candidate, Offer


async def reminder_text(ctx: Ctx, candidate: Candidate, offer: Offer) -> str:
    await offer.fetch_related("requisition")
    s = ctx.style
    values = {
        "name": candidate.name,
        "company": ctx.fx.settings.company.name,
        "title": offer.requisition.title,
        "job": offer.requisition.title,
        "salary": f"{offer.salary_monthly:,.0f}",
        "currency": offer.currency,
        "start_date": offer.start_date.isoformat(),
        "deadline": s.day(offer.expires_at) if offer.expires_at else "-",
        "expires_at": s.day(offer.expires_at) if offer.expires_at else "-",
    }
    try:
        return ctx.t("offer.reminder", **values)
    except KeyError:  # the offer flow's words are not in this build: ours will do
        return ctx.t("commands.remind_message", **values)


@command("remind", parse=required_text)
async def remind(ctx: Ctx, query: str) -> None:
    candidate = await ctx.candidate(query)
    if candidate is None:
        return
    who = candidate_title(ctx.style, candidate)
    offer = await Offer.filter(candidate_id=candidate.id, status="sent").order_by("-id").first()
    if offer is None:
        await ctx.answer(ctx.t("commands.remind_no_offer", who=who))
        return
    text = await reminder_text(ctx, candidate, offer)
    key = f"remind:{offer.id}:{ctx.turn.inbound.platform}:{ctx.turn.inbound.event_id}"
    row = await ctx.fx.to_candidate(candidate, Outgoing(text=text), key, offer=offer)
    if row is None:
        await ctx.answer(ctx.t("commands.remind_unreachable", who=who))
        return
    await Offer.filter(id=offer.id).update(reminders_sent=F("reminders_sent") + 1)
    await ctx.fx.record(candidate.id, "reminder_sent", {"by": ctx.actor}, offer_id=offer.id)
    later = row.not_before > ctx.fx.now()
    answer = "commands.remind_queued" if later else "commands.remind_sent"
    await ctx.answer(ctx.t(answer, who=who, time=ctx.style.day(row.not_before)))
