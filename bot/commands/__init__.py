"""HR slash commands (SPEC §2.4). Owned by issue 7."""
