"""The configured long connections (lazy imports: lark-oapi takes seconds to import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.transports.base import Transport

if TYPE_CHECKING:
    from bot.runtime import Runtime


def build_transports(rt: Runtime) -> list[Transport]:
    s = rt.settings
    out: list[Transport] = []
    # Each platform's package adds itself here (bot/transports/feishu_ws, bot/transports/wecom_bot).
    if s.feishu.enabled and s.feishu.connection == "websocket":
        from bot.transports.feishu_ws.transport import FeishuLongConnection

        out.append(FeishuLongConnection(rt))
    if s.wecom_bot.enabled and rt.redis is not None:
        # Every serve process runs one; the Redis lease lets one of them connect.
        from bot.transports.wecom_bot import WecomBotTransport

        out.append(WecomBotTransport(rt))
    return out
