"""/remind <candidate>: send the candidate a reminder about their open offer now.

It is the offer flow's own reminder (`offer.reminder_message`: the same words and the
offer's buttons), keyed under the offer's reminder key, so that, as docs/offer-flow.md says, a
reply from the candidate cancels it while it still waits for quiet hours to end.
"""

from __future__ import annotations

from tortoise.expressions import F

import bot.flows.offer_send as offer_flow
from bot.commands.registry import Ctx, command, required_text
from bot.flows.alerts import offer_facts
from bot.history_text import candidate_title
from bot.services import reach
from bot.storage.models import Candidate, Offer, Outbox


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
    message = await offer_flow.reminder_message(ctx.fx, offer, candidate)
    inbound = ctx.turn.inbound
    key = f"{offer_flow.reminder_key(offer)}:hr:{inbound.platform}:{inbound.event_id}"
    row = await ctx.fx.to_candidate(candidate, message, key, offer=offer)
    # No chat address, or only the candidate page (which notifies nobody): SMS / e-mail
    # where configured (docs/sms-email.md).
    if row is not None and reach.page_only(row) and reach.routes(ctx.fx):
        await _page_and_outside(ctx, candidate, offer, key, who)
        return
    if row is None:
        facts = await offer_facts(ctx.fx, offer)
        rows = await reach.instead_of_chat(ctx.fx, candidate, offer, "reminder", key, facts)
        if not rows:
            recent = await reach.sms_waits(ctx.fx, candidate)
            answer = "commands.remind_sms_recent" if recent else "commands.remind_unreachable"
            await ctx.answer(ctx.t(answer, who=who))
            return
        await _reminded(ctx, candidate, offer)
        await ctx.answer(ctx.t("commands.remind_outside", who=who, routes=_routes(ctx, rows)))
        return
    await _reminded(ctx, candidate, offer)
    later = row.not_before > ctx.fx.now()
    answer = "commands.remind_queued" if later else "commands.remind_sent"
    when = row.not_before.astimezone(ctx.style.tz).strftime("%Y-%m-%d %H:%M")
    await ctx.answer(ctx.t(answer, who=who, time=when))


async def _page_and_outside(
    ctx: Ctx, candidate: Candidate, offer: Offer, key: str, who: str
) -> None:
    """The candidate answers on their page: the reminder is there, and goes by SMS /
    e-mail too, since the page notifies nobody; HR hears where it went and whether the
    24 h rule kept the SMS back (docs/sms-email.md)."""
    sms_waited = await reach.sms_waits(ctx.fx, candidate)
    facts = await offer_facts(ctx.fx, offer)
    rows = await reach.instead_of_chat(ctx.fx, candidate, offer, "reminder", key, facts)
    await _reminded(ctx, candidate, offer)
    if rows:
        text = ctx.t("commands.remind_page_and", who=who, routes=_routes(ctx, rows))
    else:
        text = ctx.t("commands.remind_page", who=who)
    if sms_waited and not any(r.platform == "sms" for r in rows):
        text += ctx.t("commands.remind_page_sms_waited")
    await ctx.answer(text)


async def _reminded(ctx: Ctx, candidate: Candidate, offer: Offer) -> None:
    await Offer.filter(id=offer.id).update(reminders_sent=F("reminders_sent") + 1)
    await ctx.fx.record(candidate.id, "reminder_sent", {"by": ctx.actor}, offer_id=offer.id)


def _routes(ctx: Ctx, rows: list[Outbox]) -> str:
    return ctx.t("reach.list_separator").join(ctx.t(f"reach.route.{r.platform}") for r in rows)
