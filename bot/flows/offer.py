"""The offer conversation (SPEC §2.1). Owned by issue 5."""

from __future__ import annotations

from typing import Any

from bot.services.fx import Fx
from bot.storage.models import Offer


async def offer_created(fx: Fx, offer: Offer) -> dict[str, Any]:
    """Called by the API inside its transaction after a new offer row is stored.

    Returns extra fields for the API answer (`invite_url`, `invite_code`)."""
    return {}
