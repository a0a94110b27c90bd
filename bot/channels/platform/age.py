"""The callback age limit, the same on every platform: a request whose timestamp is more
than `MAX_AGE` away from now (either way) is a replay and refused with 403; one without
a readable timestamp with 400. Platforms retry for hours (Feishu ~7.1 h), never 12."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from bot.channels.platform.errors import Rejected

MAX_AGE = timedelta(hours=12)


def check_age(sent: float | None, now: datetime, max_age: timedelta = MAX_AGE) -> None:
    """`sent` in seconds since the epoch (None: the platform's value was unreadable)."""
    if sent is None or not math.isfinite(sent):
        raise Rejected(400, "missing or bad timestamp")
    if abs(now.timestamp() - sent) > max_age.total_seconds():
        raise Rejected(403, "request is too old or from the future (replay?)")
