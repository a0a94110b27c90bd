"""WeCom 智能机器人 (AI bot) over its long connection (docs/long-connections.md)."""

from bot.transports.wecom_bot.transport import WecomBotTransport

__all__ = ["WecomBotTransport"]
