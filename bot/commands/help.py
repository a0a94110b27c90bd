"""/help: every command with its usage line, in the catalog's order."""

from __future__ import annotations

from bot.commands.registry import Ctx, command


@command("help")
async def show_help(ctx: Ctx, _: None) -> None:
    usage = ctx.fx.catalog.raw("commands.usage")
    lines = [ctx.t("commands.help_title")]
    lines += [str(usage[name]) for name in usage if name in ctx.commands]
    await ctx.answer("\n".join(lines))
