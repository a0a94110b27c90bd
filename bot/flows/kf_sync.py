"""微信客服 (kf): a `kf_msg_or_event` callback carries no message, only the news that there
are some; this handler has the WeCom channel pull them (bot/channels/wecom/kf.py stores
each as its own inbound event and queues it)."""

from __future__ import annotations

import logging

from bot.channels.wecom.kf import sync_kf
from bot.channels.wecom.parse import PLATFORM
from bot.flows.filters import event, platform
from bot.flows.router import Router, Turn

log = logging.getLogger(__name__)

router = Router("wecom_kf_sync")


@router.turn(platform(PLATFORM), event("kf_msg_or_event"), name="wecom_kf_sync")
async def kf_sync(turn: Turn) -> None:
    inbound, rt = turn.inbound, turn.fx.rt
    channel = rt.channels.get(PLATFORM)
    if channel is None:
        log.warning("kf event %s ignored: wecom is not enabled here", inbound.event_id)
        return
    open_kfid = str(inbound.event.get("open_kfid", ""))
    await sync_kf(rt, channel, open_kfid, str(inbound.event.get("token", "")))
