"""/claim <alert id> and /resolve <alert id> [note] — also what the card buttons run.

Each change is one conditional UPDATE, so two HR people clicking at once cannot both claim
the same alert. Done from a private chat, the HR group hears about it too (nobody picks up
an alert a colleague already has). A click on a card that can be updated in place (the
click's `card_token`: the WeCom AI bot's req_id and task_id) is
answered by the card itself: it shows who claimed or resolved the alert, and keeps only
the buttons still useful.
"""

from __future__ import annotations

from bot.channels.base import Outgoing
from bot.commands.registry import Ctx, alert_id, alert_id_and_note, command
from bot.flows import cards
from bot.flows.alerts import alert_actions
from bot.history_text import alert_kind_label, clip
from bot.storage.models import Alert

OPEN = ("open", "claimed")


def describe(ctx: Ctx, alert: Alert) -> str:
    return ctx.t(
        "commands.alert_ref",
        id=alert.id,
        kind=alert_kind_label(ctx.fx.catalog, alert.kind),
    )


def display_name(ctx: Ctx) -> str:
    return clip(ctx.turn.inbound.sender_name, 40) or ctx.actor


async def _unavailable(ctx: Ctx, alert: Alert | None, number: int) -> bool:
    """Answer for an alert that does not exist or is closed; True when answered."""
    if alert is None:
        await ctx.answer(ctx.t("commands.alert_not_found", id=number))
        return True
    if alert.status == "resolved":
        await ctx.answer(
            ctx.t(
                "commands.alert_already_resolved",
                alert=describe(ctx, alert),
                by=alert.resolved_by or "-",
                date=ctx.style.day(alert.resolved_at),
            )
        )
        return True
    return False


async def _tell_group(ctx: Ctx, alert: Alert, key: str, **values: str) -> None:
    if ctx.private:
        text = ctx.t(key, alert=describe(ctx, alert), by=display_name(ctx), **values)
        await ctx.fx.to_hr(
            Outgoing(text=text), f"alert:{alert.id}:{ctx.name}:{ctx.turn.inbound.event_id}"
        )


async def _card_answer(ctx: Ctx, alert: Alert, key: str, **values: str) -> bool:
    """Update the clicked card instead of answering in words; True when done so."""
    token = ctx.turn.inbound.extra.get("card_token")
    if ctx.turn.inbound.kind != "action" or not isinstance(token, str) or not token:
        return False
    text = ctx.t(key, alert=describe(ctx, alert), by=display_name(ctx), **values)
    # the card's own title again; of its buttons, those still useful (none once resolved)
    title = ctx.t(f"alerts.titles.{alert.kind}")
    left = [] if alert.status == "resolved" else alert_actions(ctx.fx, alert)
    actions = tuple(a for a in left if a.key != "claim")
    await ctx.answer(text, kind="card", title=title, actions=actions, replaces=token)
    return True


@command("claim", parse=alert_id)
async def claim(ctx: Ctx, number: int) -> None:
    alert = await Alert.get_or_none(id=number)
    if await _unavailable(ctx, alert, number):
        return
    assert alert is not None
    now = ctx.fx.now()
    taken = await Alert.filter(id=number, status="open").update(
        status="claimed", claimed_by=ctx.actor, claimed_at=now
    )
    if not taken:
        await alert.refresh_from_db()
        key = "commands.alert_yours" if alert.claimed_by == ctx.actor else "commands.alert_taken"
        await ctx.answer(ctx.t(key, alert=describe(ctx, alert), by=alert.claimed_by or "-"))
        return
    if alert.candidate_id:
        await ctx.fx.record(
            alert.candidate_id, "alert_claimed", {"alert_id": alert.id}, offer_id=alert.offer_id
        )
    alert.status = "claimed"
    await alert.refresh_from_db()
    await cards.refresh_alert(ctx.fx, alert, by=display_name(ctx), click=ctx.fx.click)
    if await _card_answer(ctx, alert, "commands.claimed_group"):
        return
    await ctx.answer(ctx.t("commands.claimed", alert=describe(ctx, alert)))
    await _tell_group(ctx, alert, "commands.claimed_group")


@command("resolve", parse=alert_id_and_note)
async def resolve(ctx: Ctx, args: tuple[int, str]) -> None:
    number, note = args
    alert = await Alert.get_or_none(id=number)
    if await _unavailable(ctx, alert, number):
        return
    assert alert is not None
    now = ctx.fx.now()
    closed = await Alert.filter(id=number, status__in=OPEN).update(
        status="resolved", resolved_by=ctx.actor, resolved_at=now, resolution_note=note or None
    )
    if not closed:  # resolved by someone else a moment ago
        await alert.refresh_from_db()
        await _unavailable(ctx, alert, number)
        return
    if alert.candidate_id:
        await ctx.fx.record(
            alert.candidate_id,
            "alert_resolved",
            {"alert_id": alert.id, "note": note},
            offer_id=alert.offer_id,
        )
    await alert.refresh_from_db()
    await cards.refresh_alert(ctx.fx, alert, by=display_name(ctx), click=ctx.fx.click)
    shown_note = ctx.t("commands.resolution_note", note=clip(note, 200)) if note else ""
    alert.status = "resolved"
    if await _card_answer(ctx, alert, "commands.resolved_group", note=shown_note):
        return
    await ctx.answer(ctx.t("commands.resolved", alert=describe(ctx, alert), note=shown_note))
    await _tell_group(ctx, alert, "commands.resolved_group", note=shown_note)
