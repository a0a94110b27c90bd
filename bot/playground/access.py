"""Who may use the playground (see docs/privacy.md, "The playground is not an open door").

The playground gives HR powers (`/history`, `/forget`, the demo), so every call is checked:

- `Host` must name this machine's loopback, the configured bind address or one of
  `[playground] allowed_hosts`: a DNS-rebinding page (evil.example resolving to 127.0.0.1)
  is refused;
- a request carrying `Origin` (every browser POST does) must come from the same origin, and
  `Sec-Fetch-Site: cross-site` is refused: a form on another site cannot drive the bot;
- the API token is required whenever the request did not come from this machine directly
  (a non-loopback peer, or any proxy header such as `X-Forwarded-For`), and always beside
  a real platform when the server listens beyond loopback.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")
PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Forwarded")


def _hostname(authority: str) -> str:
    """'Example.COM:8080' → 'example.com'; '[::1]:80' → '::1'."""
    try:
        return (urlsplit("//" + authority).hostname or "").lower()
    except ValueError:
        return ""


def allowed_hosts(settings) -> set[str]:
    names = set(LOCAL_HOSTS)
    if settings.server.host not in ANY_ADDRESS:
        names.add(settings.server.host.lower())
    names.update(h.lower() for h in settings.playground.allowed_hosts)
    return names


def host_ok(request: web.Request, settings) -> bool:
    return _hostname(request.headers.get("Host", "")) in allowed_hosts(settings)


def origin_ok(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-origin request (curl, the tests' client)
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False  # a unix socket or nothing: not known to be this machine


def direct_from_this_machine(request: web.Request) -> bool:
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    return _loopback(request.remote)


def token_required(request: web.Request | None, settings) -> bool:
    """Beside a real platform a server reachable from outside always wants the API token;
    otherwise every request that did not come directly from this machine does."""
    if settings.enabled_platforms and settings.server.host not in LOCAL_HOSTS:
        return True
    return request is not None and not direct_from_this_machine(request)
