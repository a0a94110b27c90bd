"""HTTP routes for wecom (being built)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    return None
