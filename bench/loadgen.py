"""A small, bounded load generator on loopback (aiohttp client).

Two modes: a fixed request rate (open loop: requests start on schedule whether or not
earlier ones finished, so latency includes queueing) and full speed (closed loop with N
connections). Every run is bounded by a request count AND a duration, and stops itself.
Only loopback URLs are accepted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import aiohttp

# (method, url, headers, body) for request number i
RequestFactory = Callable[[int], tuple[str, str, dict[str, str], bytes]]


def _check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError(f"load tests target loopback only, not {host!r}")


@dataclass
class Result:
    label: str
    sent: int = 0
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    acked: list[int] = field(default_factory=list)  # request numbers answered 200

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        k = min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))
        return data[k] * 1000

    def row(self) -> dict[str, float | str | int]:
        return {
            "label": self.label,
            "requests": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "req_per_s": round(self.throughput, 1),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.latencies else 0,
        }


async def _one(session: aiohttp.ClientSession, make: RequestFactory, i: int, res: Result) -> None:
    method, url, headers, body = make(i)
    started = time.perf_counter()
    try:
        async with session.request(method, url, headers=headers, data=body) as resp:
            await resp.read()
            res.statuses[resp.status] = res.statuses.get(resp.status, 0) + 1
            if resp.status == 200:
                res.ok += 1
                res.latencies.append(time.perf_counter() - started)
                res.acked.append(i)
            else:
                res.errors += 1
    except (TimeoutError, aiohttp.ClientError):
        res.errors += 1


async def full_speed(
    label: str, make: RequestFactory, *, connections: int, count: int, max_seconds: float
) -> Result:
    """Closed loop: `connections` workers send back to back until count or time is used up."""
    _check_loopback(make(0)[1])
    res = Result(label)
    counter = iter(range(count))
    deadline = time.perf_counter() + max_seconds
    conn = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:

        async def worker() -> None:
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                res.sent += 1
                await _one(session, make, i, res)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        res.elapsed = time.perf_counter() - started
    return res


async def fixed_rate(
    label: str, make: RequestFactory, *, rate: float, count: int, max_seconds: float
) -> Result:
    """Open loop: request i starts at i/rate seconds, regardless of earlier answers."""
    _check_loopback(make(0)[1])
    res = Result(label)
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        started = time.perf_counter()
        tasks = []
        for i in range(count):
            due = started + i / rate
            now = time.perf_counter()
            if due - started > max_seconds:
                break
            if due > now:
                await asyncio.sleep(due - now)
            res.sent += 1
            tasks.append(asyncio.create_task(_one(session, make, i, res)))
        await asyncio.gather(*tasks)
        res.elapsed = time.perf_counter() - started
    return res
