"""Statistics behind /stats and GET /api/v1/stats. Owned by issue 7 (foundation stub)."""

from __future__ import annotations

from typing import Any


async def compute_stats(days: int, now=None) -> dict[str, Any]:
    return {"days": days}
