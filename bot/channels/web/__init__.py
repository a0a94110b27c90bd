"""The web channel: the playground and the candidate page (docs/playground.md)."""
