"""The command route: slash commands and claim/resolve/correct clicks, and the table of commands.

Everything starting with `/` (or the full-width `／` a Chinese keyboard types) is a command,
from anyone: non-admins get a polite refusal rather than falling through to the candidate
flows. Card buttons arrive as `action` inbounds and run the command they stand for.
"""

from __future__ import annotations

from bot.channels.base import Inbound
from bot.commands import (
    claim_resolve,
    correct,
    docs,
    forget,
    help,
    history,
    job,
    note,
    offer_draft,
    offers,
    pending,
    remind,
    stats,
    withdraw,
)
from bot.commands import offer as offer_cmd
from bot.commands.registry import Ctx, UsageError, closest, table
from bot.flows.filters import admin
from bot.flows.router import Filter, Router, Turn
from bot.history_text import clip
from bot.runtime import Runtime

# Every command HR can run.
COMMANDS = table(
    claim_resolve.claim,
    claim_resolve.resolve,
    correct.correct,
    docs.show_docs,
    forget.forget,
    help.show_help,
    history.show_history,
    job.job,
    note.add_note,
    offer_cmd.offer,
    offer_cmd.cancel,
    offers.show_offers,
    pending.show_pending,
    remind.remind,
    stats.show_stats,
    withdraw.withdraw,
)

SLASHES = ("/", "／")
BUTTON_COMMANDS = ("claim", "resolve", "correct")
MAX_NAME = 32


def requested_command(turn: Turn) -> tuple[str, str] | None:
    """(command name, argument text) when the turn is a command, else None."""
    inbound = turn.inbound
    if inbound.kind == "action":
        action = inbound.action
        if action.get("action") in BUTTON_COMMANDS and "alert_id" in action:
            return str(action["action"]), str(action["alert_id"])
        return None
    if inbound.kind != "text" or not turn.text.startswith(SLASHES):
        return None
    parts = turn.text[1:].split(None, 1)
    name = parts[0].lower()[:MAX_NAME] if parts else ""
    return name, parts[1].strip() if len(parts) > 1 else ""


is_command = Filter("command", lambda turn: requested_command(turn) is not None)
router = Router("commands")


def _ctx(turn: Turn) -> tuple[Ctx, str, str]:
    request = requested_command(turn)
    assert request is not None  # the `is_command` filter said so
    name, args = request
    return Ctx(turn, name if name in COMMANDS else "unknown", COMMANDS), name, args


@router.turn(is_command, admin, name="commands")
async def on_command(turn: Turn) -> None:
    ctx, name, args = _ctx(turn)
    cmd = COMMANDS.get(name)
    if cmd is None:
        await unknown(ctx, name)
        return
    try:
        parsed = cmd.parse(args)
    except UsageError:
        await ctx.usage()
        return
    await cmd.run(ctx, parsed)


@router.turn(is_command, ~admin, name="commands_refused")
async def refuse(turn: Turn) -> None:
    ctx, _, _ = _ctx(turn)
    await ctx.answer(ctx.t("commands.not_admin"), suffix=":refused")


# -- the /offer draft's own turns: answers to its questions and its buttons --------------


DRAFT_ACTIONS = (*offer_cmd.BUTTONS, offer_cmd.FORM_ACTION)


def _draft_input(turn: Turn) -> bool:
    inbound = turn.inbound
    if inbound.kind == "action":
        return str(inbound.action.get("action")) in DRAFT_ACTIONS
    return inbound.kind == "text" and bool(turn.text) and not turn.text.startswith(SLASHES)


async def _open_draft(turn: Turn) -> bool:
    """The sender has a draft begun in this chat (found, even expired, for the handler)."""
    actor = f"{turn.inbound.platform}:{turn.inbound.sender_id}"
    draft, expired = await offer_draft.load(actor, turn.fx.now())
    if draft is None or draft.where != offer_cmd.where(turn):
        return False
    turn.data["draft"] = (draft, expired)
    return True


draft_input = Filter("offer_draft_input", _draft_input)
open_draft = Filter("open_offer_draft", _open_draft)
draft_button = Filter(
    "offer_draft_button",
    lambda turn: (
        turn.inbound.kind == "action" and str(turn.inbound.action.get("action")) in DRAFT_ACTIONS
    ),
)


@router.turn(draft_input, admin, open_draft, name="offer_draft")
async def on_draft(turn: Turn) -> None:
    draft, expired = turn.data["draft"]
    await offer_cmd.draft_turn(Ctx(turn, "offer", COMMANDS), draft, expired)


@router.turn(draft_button, ~admin, name="offer_draft_refused")
async def refuse_draft_button(turn: Turn) -> None:
    await Ctx(turn, "offer", COMMANDS).answer(turn.fx.t("commands.not_admin"), suffix=":refused")


@router.turn(draft_button, name="offer_draft_gone")
async def draft_gone(turn: Turn) -> None:
    await Ctx(turn, "offer", COMMANDS).answer(turn.fx.t("commands.offer.none"), suffix=":none")


async def read_ahead(rt: Runtime, inbound: Inbound) -> object | None:
    """Work a command does before the worker's transaction (no network inside it)."""
    return await offer_cmd.prepare(rt, inbound)


async def unknown(ctx: Ctx, name: str) -> None:
    guess = closest(name, COMMANDS)
    shown = clip(name, MAX_NAME)
    if guess:
        text = ctx.t("commands.unknown_suggest", name=shown, guess=guess)
    else:
        text = ctx.t("commands.unknown", name=shown)
    await ctx.answer(text)
