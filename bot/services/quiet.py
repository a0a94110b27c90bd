"""Quiet hours: candidate messages wait for the window to end (company time zone)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.config import CompanySettings
from bot.storage.models import Outbox

log = logging.getLogger(__name__)

HELD_SCAN = 10_000  # a night's held messages of a large company, with room


def in_quiet_hours(moment: datetime, company: CompanySettings) -> bool:
    window = company.quiet_window
    if window is None:
        return False
    start, end = window
    local = moment.astimezone(company.tz).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def next_allowed(moment: datetime, company: CompanySettings) -> datetime:
    """`moment` itself, or the end of the quiet window it falls in (as an aware datetime)."""
    if not in_quiet_hours(moment, company):
        return moment
    _, end = company.quiet_window  # type: ignore[misc]
    local = moment.astimezone(company.tz)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(moment.tzinfo)


async def reevaluate_held(now: datetime, company: CompanySettings) -> int:
    """Candidate messages held by quiet hours, re-timed for the quiet hours configured now
    (a restart with other `quiet_hours`, or `quiet_hours = []`): each goes when it would
    have under the current window, never before `now`. Returns how many moved.
    Held rows are the pending, never-tried candidate rows due later (only quiet hours
    put a candidate message in the future; see docs/offer-flow.md#quiet-hours)."""
    moved = 0
    held = Outbox.filter(status="pending", recipient_kind="user", attempts=0, not_before__gt=now)
    for row in await held.order_by("id").limit(HELD_SCAN):
        due = max(now, next_allowed(row.created_at, company))
        if due != row.not_before:
            moved += await Outbox.filter(id=row.id, status="pending").update(not_before=due)
    if moved:
        log.info("quiet hours: %d held message(s) re-timed", moved)
    return moved
