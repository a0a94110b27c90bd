"""/forget <candidate>, then `/forget <candidate id> confirm` within 10 minutes: erase.

The pending confirmation is a `KeyValue` row with `expires_at`, bound to the admin who
asked, so it survives restarts and another admin cannot confirm by accident. The erasure
itself (PII, documents on disk, message bodies; aggregates stay) is `erase_candidate`,
shared with `DELETE /api/v1/candidates/{id}`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.commands.registry import Ctx, candidate_maybe_confirmed, command
from bot.history_text import candidate_title
from bot.services.erase import erase_candidate
from bot.storage.models import Candidate, KeyValue

CONFIRM_WITHIN = timedelta(minutes=10)
_ID = re.compile(r"^#?(\d{1,9})$")


def confirmation_key(actor: str, candidate_id: int) -> str:
    return f"forget:{actor}:{candidate_id}"


@command("forget", parse=candidate_maybe_confirmed)
async def forget(ctx: Ctx, args: tuple[str, bool]) -> None:
    query, confirmed = args
    if confirmed:
        await _confirm(ctx, query)
        return
    candidate = await ctx.candidate(query)
    if candidate is None:
        return
    await KeyValue.update_or_create(
        key=confirmation_key(ctx.actor, candidate.id),
        defaults={
            "value": {"candidate_id": candidate.id, "requested_by": ctx.actor},
            "expires_at": ctx.fx.now() + CONFIRM_WITHIN,
        },
    )
    await ctx.answer(
        ctx.t("commands.forget_ask", who=candidate_title(ctx.style, candidate), id=candidate.id)
    )


async def _confirm(ctx: Ctx, query: str) -> None:
    m = _ID.match(query)
    if not m:
        await ctx.answer(ctx.t("commands.forget_confirm_by_id"), suffix=":usage")
        return
    candidate_id = int(m.group(1))
    key = confirmation_key(ctx.actor, candidate_id)
    pending = await KeyValue.get_or_none(key=key, expires_at__gt=ctx.fx.now())
    if pending is None:
        await ctx.answer(ctx.t("commands.forget_not_pending", id=candidate_id))
        return
    await KeyValue.filter(key=key).delete()
    candidate = await Candidate.get_or_none(id=candidate_id, erased_at__isnull=True)
    if candidate is None:
        await ctx.answer(ctx.t("commands.forget_gone", id=candidate_id))
        return
    erased = await erase_candidate(ctx.fx, candidate)
    who = f"#{candidate_id}"  # not the name: this answer is stored after the erasure
    await ctx.answer(ctx.t("commands.forget_done", who=who, files=erased.get("files", 0)))
