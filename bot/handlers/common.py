"""Small pieces every HTTP handler shares: bounded body reads and JSON errors."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.runtime import Runtime

RUNTIME_KEY: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME_KEY]


class BodyTooLarge(web.HTTPRequestEntityTooLarge):
    pass


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most `limit` bytes; 413 before reading more than that."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def webhook_limit(request: web.Request) -> int:
    return runtime(request).settings.server.max_body_kb * 1024
