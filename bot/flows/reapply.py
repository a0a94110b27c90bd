"""Re-applicant alerts (SPEC §2.3). Owned by issue 7."""

from __future__ import annotations

from bot.services.fx import Fx
from bot.storage.models import Application


async def application_created(fx: Fx, application: Application) -> None:
    """Called by the API (and CSV import) inside its transaction for a new application."""
    return None
