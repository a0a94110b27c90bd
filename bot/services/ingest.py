"""The webhook's only job after verification: store the Inbound durably, enqueue, ack."""

from __future__ import annotations

import logging

from tortoise.exceptions import IntegrityError

from bot import metrics
from bot.channels.base import Inbound
from bot.runtime import Runtime
from bot.storage.models import InboundEvent

log = logging.getLogger(__name__)


async def store_inbound(rt: Runtime, inbound: Inbound) -> tuple[int, bool]:
    """Insert once per (platform, event_id); returns (row id, created). Enqueues new rows.

    A duplicate delivery returns the existing row and enqueues nothing."""
    existing = await InboundEvent.filter(
        platform=inbound.platform, event_id=inbound.event_id
    ).values_list("id", flat=True)
    if existing:
        metrics.INBOUND.labels(inbound.platform, "duplicate").inc()
        return existing[0], False
    try:
        row = await InboundEvent.create(
            platform=inbound.platform,
            event_id=inbound.event_id,
            kind=inbound.kind,
            payload=inbound.model_dump(mode="json"),
        )
    except IntegrityError:  # a concurrent duplicate won the race
        metrics.INBOUND.labels(inbound.platform, "duplicate").inc()
        pk = await InboundEvent.get(platform=inbound.platform, event_id=inbound.event_id)
        return pk.id, False
    metrics.INBOUND.labels(inbound.platform, "stored").inc()
    await rt.enqueuer.inbound(row.id)
    return row.id, True
