"""The router hook: slash commands and claim/resolve/correct clicks go to the command registry.

Everything starting with `/` (or the full-width `／` a Chinese keyboard types) is a command,
from anyone: non-admins get a polite refusal rather than falling through to the candidate
flows. Card buttons arrive as `action` inbounds and run the command they stand for.
"""

from __future__ import annotations

from bot.commands.registry import COMMANDS, Ctx, UsageError, closest
from bot.flows.router import Turn, handles
from bot.history_text import clip

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


@handles(priority=10, name="commands")
async def on_command(turn: Turn) -> bool:
    request = requested_command(turn)
    if request is None:
        return False
    name, args = request
    ctx = Ctx(turn, name if name in COMMANDS else "unknown")
    if not turn.is_admin():
        await ctx.answer(ctx.t("commands.not_admin"), suffix=":refused")
        return True
    cmd = COMMANDS.get(name)
    if cmd is None:
        await unknown(ctx, name)
        return True
    try:
        parsed = cmd.parse(args)
    except UsageError:
        await ctx.usage()
        return True
    await cmd.run(ctx, parsed)
    return True


async def unknown(ctx: Ctx, name: str) -> None:
    guess = closest(name)
    shown = clip(name, MAX_NAME)
    if guess:
        text = ctx.t("commands.unknown_suggest", name=shown, guess=guess)
    else:
        text = ctx.t("commands.unknown", name=shown)
    await ctx.answer(text)
