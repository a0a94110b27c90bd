"""HTTP routes for playground (being built)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    return None
