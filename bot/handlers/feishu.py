"""HTTP routes for feishu (being built)."""

from aiohttp import web


def setup(app: web.Application) -> None:
    return None
