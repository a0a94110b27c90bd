"""What every candidate page request passes before it is served (docs/candidate-page.md).

- the client's IP (and scheme) — from `X-Forwarded-For` / `X-Forwarded-Proto` only when
  the peer is one of `server.trusted_proxies`, else the socket's peer;
- rate limits per IP (every request, also those with a wrong token) and per token;
- the security headers every answer carries (a strict CSP: no inline script or style).

The limits are counted in this process (fixed one-minute windows): several `serve`
processes behind one proxy each allow the numbers below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from aiohttp import web

# (requests, seconds) — see docs/candidate-page.md#rate-limits
IP_LIMIT = (240, 60)  # every /c/ request from one address (a carrier NAT shares one)
IP_MISSES = (30, 600)  # requests with an unknown, tampered or expired token, per address
TOKEN_LIMIT = (120, 60)  # requests with one token (the page polls every 2 s at most)
TOKEN_WRITES = (20, 60)  # messages and uploads with one token
MAX_KEYS = 50_000  # counters kept before expired ones are dropped

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), microphone=()",
    # Personal data: no shared cache keeps it, the browser does not store it.
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000"

IP = IPv4Address | IPv6Address


@dataclass
class Limiter:
    """Fixed-window counters: `hit(key, limit)` is False once `key` used up its window."""

    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def hit(self, key: str, limit: tuple[int, int]) -> bool:
        allowed, seconds = limit
        now = self.clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= seconds:
            start, count = now, 0
        self._windows[key] = (start, count + 1)
        if len(self._windows) > MAX_KEYS:
            self._prune(now)
        return count < allowed

    def used(self, key: str, limit: tuple[int, int]) -> bool:
        """True when `key` has used up its window (without counting this look)."""
        allowed, seconds = limit
        start, count = self._windows.get(key, (0.0, 0))
        return count >= allowed and self.clock() - start < seconds

    def _prune(self, now: float) -> None:
        longest = max(IP_LIMIT[1], IP_MISSES[1], TOKEN_LIMIT[1], TOKEN_WRITES[1])
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < longest}
        if len(self._windows) > MAX_KEYS:  # a flood of fresh keys: start over
            self._windows.clear()


def parse_proxies(entries: list[str]) -> tuple:
    return tuple(ip_network(entry, strict=False) for entry in entries)


def _ip(text: str) -> IP | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:51234"
        text = text.split(":", 1)[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _trusted(addr: IP | None, proxies: tuple) -> bool:
    return addr is not None and any(addr in net for net in proxies)


def peer_ip(request: web.Request) -> IP | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    host = peer[0] if isinstance(peer, tuple | list) and peer else request.remote
    return _ip(str(host)) if host else None


def client_ip(request: web.Request, proxies: tuple) -> str:
    """The client's address: the socket's peer, unless that is a trusted proxy; then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy."""
    peer = peer_ip(request)
    if not _trusted(peer, proxies):
        return str(peer) if peer else "unknown"
    hops = [h for part in request.headers.getall("X-Forwarded-For", []) for h in part.split(",")]
    for hop in reversed(hops):
        addr = _ip(hop)
        if addr is None:
            break  # garbage in the chain: stop believing it here
        if not _trusted(addr, proxies):
            return str(addr)
    return str(peer)


def client_scheme(request: web.Request, proxies: tuple) -> str:
    if _trusted(peer_ip(request), proxies):
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            return proto
    return request.scheme


def secure(response: web.StreamResponse, scheme: str) -> web.StreamResponse:
    """Put the page's security headers on an answer (before it is prepared)."""
    response.headers.update(HEADERS)
    if scheme == "https":
        response.headers["Strict-Transport-Security"] = HSTS
    return response
