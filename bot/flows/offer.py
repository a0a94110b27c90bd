"""The offer conversation (SPEC §2.1). Owned by issue 5 (this is the foundation's stub)."""

from __future__ import annotations

from typing import Any

from bot.services.fx import Fx
from bot.storage.models import Application, Offer


async def create_offer(
    fx: Fx, *, application: Application, fields: dict[str, Any]
) -> tuple[Offer, dict[str, Any]]:
    """POST /api/v1/offers after validation: store the offer and start the flow.

    `fields` are the validated body fields except application_id. Returns the offer and
    extra answer fields (`invite_url`, `invite_code` when the candidate must be invited).
    Runs inside the API's transaction; network calls (identity look-ups) happen before."""
    await application.fetch_related("candidate", "requisition")
    offer = await Offer.create(
        application=application,
        candidate=application.candidate,
        requisition=application.requisition,
        **fields,
    )
    return offer, {}


async def withdraw_offer(fx: Fx, offer: Offer) -> Offer:
    """POST /api/v1/offers/{id}/withdraw."""
    offer.status = "withdrawn"
    offer.withdrawn_at = offer.closed_at = fx.now()
    await offer.save()
    return offer
