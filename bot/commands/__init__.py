"""HR slash commands (SPEC §2.4): the framework (`registry`), the router hook (`dispatch`)
and one module per command; importing the package registers them all."""

from bot.commands import (  # noqa: F401 - each module registers itself
    claim_resolve,
    correct,
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
