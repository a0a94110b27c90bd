"""/docs <candidate>: the onboarding checklist of the candidate's current offer."""

from __future__ import annotations

from bot.commands.registry import Ctx, command, required_text
from bot.documents.checklist import checklist_state
from bot.history_text import candidate_title
from bot.storage.models import Offer

# The offer whose documents matter: an accepted one first, else the newest.
_PREFERRED = ("accepted", "onboarded")


@command("docs", parse=required_text)
async def show_docs(ctx: Ctx, query: str) -> None:
    candidate = await ctx.candidate(query)
    if candidate is None:
        return
    offer = (
        await Offer.filter(candidate_id=candidate.id, status__in=_PREFERRED).order_by("-id").first()
        or await Offer.filter(candidate_id=candidate.id).order_by("-id").first()
    )
    who = candidate_title(ctx.style, candidate)
    if offer is None:
        await ctx.answer(ctx.t("commands.docs_no_offer", who=who))
        return
    items = await checklist_state(offer, settings=ctx.fx.settings, language=ctx.fx.catalog.language)
    done = sum(1 for item in items if item["status"] == "done")
    lines = [ctx.t("commands.docs_title", who=who, offer=offer.id, done=done, total=len(items))]
    for item in items:
        lines.append(ctx.t(f"commands.docs_{item['status']}", name=item["name"]))
    await ctx.answer("\n".join(lines))
