"""Files the channels send (charts under <data_dir>/charts/), read off the event loop:
a slow disk must not stall every other conversation of the process."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.channels.base import PermanentError

_CHART_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


async def read_chart(data_dir: Path, image_key: str) -> bytes:
    """A chart the stats command wrote, by its key (a bare file name: no path tricks)."""
    if not _CHART_KEY.match(image_key) or ".." in image_key:
        raise PermanentError(f"not a chart key: {image_key[:60]!r}", "bad_image_key")
    path = data_dir / "charts" / image_key
    try:
        return await asyncio.to_thread(path.read_bytes)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise PermanentError(f"chart {image_key} not found", "no_image") from None
