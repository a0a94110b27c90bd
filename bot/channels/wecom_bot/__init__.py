"""WeCom 智能机器人: the channel behind the long connection (docs/long-connections.md)."""
