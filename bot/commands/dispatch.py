"""The command route: slash commands and claim/resolve/correct clicks, and the table of commands.

Everything starting with `/` (or the full-width `／` a Chinese keyboard types) is a command,
from anyone: non-admins get a polite refusal rather than falling through to the candidate
flows. Card buttons arrive as `action` inbounds and run the command they stand for.
"""

from __future__ import annotations

from bot.commands import (
    claim_resolve,
    correct,
    docs,
    forget,
    help,
    history,
    note,
    pending,
    remind,
    stats,
)
from bot.commands.registry import Ctx, UsageError, closest, table
from bot.flows.filters import admin
from bot.flows.router import Filter, Router, Turn
from bot.history_text import clip

# Every command HR can run.
COMMANDS = table(
    claim_resolve.claim,
    claim_resolve.resolve,
    correct.correct,
    docs.show_docs,
    forget.forget,
    help.show_help,
    history.show_history,
    note.add_note,
    pending.show_pending,
    remind.remind,
    stats.show_stats,
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


async def unknown(ctx: Ctx, name: str) -> None:
    guess = closest(name, COMMANDS)
    shown = clip(name, MAX_NAME)
    if guess:
        text = ctx.t("commands.unknown_suggest", name=shown, guess=guess)
    else:
        text = ctx.t("commands.unknown", name=shown)
    await ctx.answer(text)
