"""HR slash commands (docs/hr-commands.md): the framework (`registry`), the router hook (`dispatch`)
and one module per command; importing the package registers them all."""

from bot.commands import (  # noqa: F401 - each module registers itself
    claim_resolve,
    dispatch,
    docs,
    forget,
    help,
    history,
    note,
    pending,
    remind,
    stats,
)
