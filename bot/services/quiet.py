"""Quiet hours: candidate messages wait for the window to end (company time zone)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import CompanySettings


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
