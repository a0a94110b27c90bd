"""The size-limited download every platform's media fetch uses.

A body over `limit` bytes is never held whole: reading stops at `limit + 1` bytes. That
one byte too many is the refusal — the document checks (bot/documents/checks.py) see a
file over the limit and tell the candidate it is too large, on every platform alike,
without the process holding a 100 MB upload in memory.
"""

from __future__ import annotations

import aiohttp

CHUNK = 256 * 1024


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, cut at `limit + 1` bytes when it is longer (see the module doc)."""
    cap = limit + 1
    chunks, size = [], 0
    while size < cap:
        chunk = await resp.content.read(min(CHUNK, cap - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
