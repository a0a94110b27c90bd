"""Feishu (飞书): the bot's messages, cards and callbacks (docs/feishu.md)."""
