"""HR slash commands (SPEC §2.4): the framework (`registry`), the table of commands and
their route (`dispatch`), and one module per command."""
