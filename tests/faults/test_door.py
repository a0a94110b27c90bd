"""The HTTP door of a real `offerbot serve` process (docs/hardening.md), over raw sockets:
- a compressed body (a 1 MB gzip of 1 GiB of spaces) is refused at once and never
  inflated: signed WeCom callbacks sent meanwhile are acknowledged well within 5 s;
- slow headers, slow bodies and idle keep-alive sockets are closed after the configured
  seconds; connections over `server.max_connections` get a 503 and one log line, and the
  server answers again once the flood is gone.
"""

from __future__ import annotations

import asyncio
import time
import zlib

import aiohttp
import pytest

from tests.standins.wecom import text_xml

pytestmark = pytest.mark.timeout(120)

INFLATED_MB = 1024  # what one bomb inflates to


def gzip_bomb(megabytes: int = INFLATED_MB) -> bytes:
    """gzip of `megabytes` MiB of spaces, built from one repeated full-flush block (a
    fully flushed deflate block of the same input is the same bytes), so it costs
    milliseconds to make. No trailer: the server must never get that far."""
    chunk = b" " * (16 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    assert z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH) == block
    bomb = first + block * (megabytes // 16 - 1)
    assert len(bomb) < 2 * 1024 * 1024
    assert len(zlib.decompressobj(31).decompress(first + block, 64 << 20)) == 32 << 20
    return bomb


async def send_raw(port: int, head: bytes, body: bytes = b"") -> tuple[bytes, float]:
    """Write a request, read the whole answer; (answer, seconds until the socket closed)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass
    try:
        answer = await asyncio.wait_for(reader.read(), 30)
    except ConnectionError:  # refused and reset while we were still sending
        answer = b"reset"
    writer.close()
    return answer, time.monotonic() - started


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closed the socket (EOF); fails past `limit`."""
    started = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(65536), limit):
            pass
    except TimeoutError:
        raise AssertionError(f"socket still open after {limit}s") from None
    except ConnectionError:
        pass
    return time.monotonic() - started


async def test_gzip_bodies_are_refused_unread_and_callbacks_stay_fast(fault_env):
    proc = await fault_env.procs.serve()
    bomb = gzip_bomb()
    head = (
        "POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    bombs = [asyncio.create_task(send_raw(proc.port, head, bomb)) for _ in range(4)]
    await asyncio.sleep(0.2)  # the bombs are on their way
    acks = []
    for n in range(3):
        started = time.monotonic()
        status = await fault_env.callback(proc, text_xml("zhangsan", f"hi {n}", msg_id=900 + n))
        acks.append(time.monotonic() - started)
        assert status == 200
    assert max(acks) < 2.5, acks  # WeCom's limit is 5 s
    for answer, _ in await asyncio.gather(*bombs):
        assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    # Nothing is left running for the bombs: the next callback is as quick.
    started = time.monotonic()
    assert await fault_env.callback(proc, text_xml("zhangsan", "after", msg_id=999)) == 200
    assert time.monotonic() - started < 1.5
    # deflate and br are refused the same way, on any route.
    for encoding in ("deflate", "br", "x-gzip"):
        raw = (
            f"POST /api/v1/candidates HTTP/1.1\r\nHost: x\r\nContent-Encoding: {encoding}\r\n"
            "Content-Type: application/json\r\nContent-Length: 4\r\n\r\n"
        ).encode()
        answer, _ = await send_raw(proc.port, raw, b"abcd")
        assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    assert proc.alive()


LIMITS = {"header_timeout": 1, "body_timeout": 1, "keepalive_timeout": 3}


async def test_slow_headers_slow_bodies_and_idle_sockets_are_closed(fault_env_factory):
    async with fault_env_factory(server=LIMITS) as env:
        proc = await env.procs.serve()
        port = proc.port

        # Slow headers: a byte every 0.3 s never completes a request head.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")

        async def trickle():
            for _ in range(30):
                await asyncio.sleep(0.3)
                try:
                    writer.write(b"X")
                    await writer.drain()
                except (ConnectionError, RuntimeError):
                    return

        dribble = asyncio.create_task(trickle())
        assert await closed_after(reader, 4) < 2.5  # header_timeout 1 s (keep-alive is 3)
        dribble.cancel()
        writer.close()

        # Slow body: headers promise 100 bytes, 10 arrive: 408 and closed.
        head = (
            b"POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"<xml>01234")
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 6)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert time.monotonic() - started < 4
        writer.close()

        # Idle keep-alive: one request answered, then nothing: closed after ~3 s.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert first.startswith(b"HTTP/1.1 200")
        waited = await closed_after(reader, 8)
        assert 1.5 < waited < 6, waited
        writer.close()

        # A socket that never sends a byte is closed as idle too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_after(reader, 8) < 6
        writer.close()
        assert proc.alive()


async def test_connections_over_the_cap_get_503_and_the_server_recovers(fault_env_factory):
    cap = 30
    async with fault_env_factory(server={**LIMITS, "max_connections": cap}) as env:
        proc = await env.procs.serve()
        held = [await asyncio.open_connection("127.0.0.1", proc.port) for _ in range(cap)]
        await asyncio.sleep(0.3)
        # The 503 comes before the client says anything (so no request is left unread).
        over = [await send_raw(proc.port, b"") for _ in range(40)]
        busy = [answer for answer, _ in over if answer.startswith(b"HTTP/1.1 503")]
        assert len(busy) >= 35, [a[:40] for a, _ in over]
        assert all(seconds < 2 for _, seconds in over)  # answered at once, not queued
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as http, http.get(f"{proc.url}/healthz") as resp:
            assert resp.status == 200
        assert await env.callback(proc, text_xml("zhangsan", "back", msg_id=77)) == 200
        assert proc.log(100_000).count("connection limit 30 reached") == 1
        assert "Too many open files" not in proc.log(100_000)
        assert proc.alive()
