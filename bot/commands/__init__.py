"""HR slash commands (docs/hr-commands.md): the framework (`registry`), the table of commands
and their route (`dispatch`), and one module per command."""
