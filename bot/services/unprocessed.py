"""A message the worker gave up on (every retry failed) reaches HR instead of vanishing:
a notice in the HR group with who sent it and what it said (see docs/hardening.md)."""

from __future__ import annotations

import logging

from tortoise.transactions import in_transaction

from bot.channels.base import Inbound, Outgoing
from bot.privacy import scrub
from bot.runtime import Runtime

log = logging.getLogger(__name__)


async def tell_hr_unprocessed(rt: Runtime, event_id: int, attempts: int, inbound: Inbound) -> None:
    fx = rt.fx()
    try:
        text = scrub(inbound.text)[:500] or inbound.kind
        who = f"{inbound.platform}:{inbound.sender_id}"
        notice = fx.t("worker.unprocessed", who=who, attempts=attempts, text=text)
        async with in_transaction():
            await fx.to_hr(Outgoing(text=notice), f"unprocessed:{event_id}")
        await fx.flush()  # queued for delivery like any HR message
    except Exception:  # noqa: BLE001 - the event stays `failed` in the database either way
        fx.discard()
        log.exception("HR could not be told about failed inbound %s", event_id)
