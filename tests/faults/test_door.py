"""The HTTP door of a real `offerbot serve` process (docs/hardening.md), over raw sockets:
- a compressed body (a 1 MB gzip of 1 GiB of spaces) is refused before the client has
  sent it (so it is never inflated), and signed WeCom callbacks sent while such bodies are
  half sent are acknowledged;
- slow headers, slow bodies and idle keep-alive sockets are closed by the server (which
  rule closed which socket shows in the order they close and in the log);
  connections over `server.max_connections` get a 503 and one log line, and the server
  answers again once the flood is gone.
No figure of time is asserted here: how soon each answer and close comes is measured by
bench/door.py.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bench.door import gzip_bomb
from bench.slow_clients import Trickle
from tests.standins.wecom import text_xml

pytestmark = pytest.mark.timeout(120)


async def healthz_answers(url: str) -> int:
    """/healthz's status once it is not 503 (the server frees a slot when it sees a
    client's close), polled for at most GUARD seconds."""
    deadline = asyncio.get_running_loop().time() + GUARD
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status != 503 or asyncio.get_running_loop().time() > deadline:
                        return resp.status
            except aiohttp.ClientError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.1)


async def send_raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Write a request, read the whole answer (until the server closes the socket)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass
    try:
        answer = await asyncio.wait_for(reader.read(), GUARD)
    except ConnectionError:  # refused and reset while we were still sending
        answer = b"reset"
    writer.close()
    return answer


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sends until it closes the socket. `GUARD` only stops a test that
    would otherwise hang: how soon the close comes is measured in bench/door.py."""
    got = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), GUARD):
            got += chunk
    except TimeoutError:
        raise AssertionError(f"the server has not closed the socket in {GUARD}s") from None
    except ConnectionError:
        pass
    return got


GUARD = 30  # seconds: a failure guard, never the figure under test


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One keep-alive answer: its head and its Content-Length bytes of body."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD)
    except asyncio.IncompleteReadError:
        raise AssertionError("the server closed the keep-alive socket") from None
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await asyncio.wait_for(reader.readexactly(length), GUARD)


async def test_gzip_bodies_are_refused_unread_and_callbacks_are_acknowledged_meanwhile(
    fault_env,
):
    proc = await fault_env.procs.serve()
    bomb = gzip_bomb()
    head = (
        "POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    first_part = bomb[: len(bomb) // 8]  # inflates to over 100 MiB
    opened = asyncio.Event()
    rest_may_go = asyncio.Event()
    hostile_open = 0

    async def hostile() -> bytes:
        """Sends the head and an eighth of the bomb, then waits for an answer before
        sending the rest (which it never does: the answer comes first)."""
        nonlocal hostile_open
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(head + first_part)
        await writer.drain()
        hostile_open += 1
        if hostile_open == 4:
            opened.set()
        try:
            answer = await read_until_closed(reader)
            await rest_may_go.wait()  # the body stays unfinished until the acks are in
        finally:
            writer.close()
        return answer

    bombs = [asyncio.create_task(hostile()) for _ in range(4)]
    await asyncio.wait_for(opened.wait(), GUARD)
    for n in range(3):  # while four compressed bodies are half sent
        status = await fault_env.callback(proc, text_xml("zhangsan", f"hi {n}", msg_id=900 + n))
        assert status == 200
        assert not any(b.done() for b in bombs)  # none of them has sent its whole body
    rest_may_go.set()
    # Each was answered 415 and closed by the server with seven eighths of its body never
    # sent: the server did not wait for the body, so it cannot have inflated it.
    for answer in await asyncio.gather(*bombs):
        assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    # Whole bombs sent at once get the same answer (or a reset mid-send), and the server
    # goes on acknowledging.
    for answer in await asyncio.gather(*(send_raw(proc.port, head, bomb) for _ in range(4))):
        assert answer.startswith(b"HTTP/1.1 415") or answer == b"reset", answer[:200]
    assert await fault_env.callback(proc, text_xml("zhangsan", "after", msg_id=999)) == 200
    # deflate and br are refused the same way, on any route.
    for encoding in ("deflate", "br", "x-gzip"):
        raw = (
            f"POST /api/v1/candidates HTTP/1.1\r\nHost: x\r\nContent-Encoding: {encoding}\r\n"
            "Content-Type: application/json\r\nContent-Length: 4\r\n\r\n"
        ).encode()
        answer = await send_raw(proc.port, raw, b"abcd")
        assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    assert proc.alive()
    assert "Traceback" not in proc.log(100_000)


# keep-alive well above the header and body deadlines, so which rule closed a socket shows
# in the order the sockets close
LIMITS = {"header_timeout": 1, "body_timeout": 1, "keepalive_timeout": 4}
TRICKLE = 40  # bytes of a slow request head, one every 0.3 s: longer than every limit


async def test_slow_headers_slow_bodies_and_idle_sockets_are_closed(fault_env_factory):
    async with fault_env_factory(server=LIMITS) as env:
        proc = await env.procs.serve()
        port = proc.port

        # An idle keep-alive socket: one request answered, then nothing for now.
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
        idle_w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(idle_r)).startswith(b"HTTP/1.1 200")
        # A socket that never sends a byte.
        mute_r, mute_w = await asyncio.open_connection("127.0.0.1", port)

        # Slow headers, opened after the idle socket went quiet: a byte every 0.3 s never
        # completes a request head.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        slow = Trickle(writer, TRICKLE)
        dribble = asyncio.create_task(slow.run())
        assert await read_until_closed(reader) == b""  # closed unanswered,
        assert slow.sent < TRICKLE  # while the client was still sending its head,
        # and before the keep-alive socket that went idle earlier: the header deadline
        # closed it, not the idle rule. That socket still answers.
        idle_w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        again = await read_response(idle_r)
        assert again.startswith(b"HTTP/1.1 200"), again
        dribble.cancel()
        writer.close()

        # Slow body: headers promise 100 bytes, 10 arrive: 408 and closed.
        head = (
            b"POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b"<xml>01234")
        answer = await read_until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        writer.close()

        # The idle keep-alive socket and the mute one are closed by the server too.
        assert await read_until_closed(idle_r) == b""
        assert await read_until_closed(mute_r) == b""
        idle_w.close()
        mute_w.close()
        log = proc.log(100_000)
        assert "request headers slower than 1.0s: connection closed" in log
        assert "request body slower than 1.0s: answered 408 and closed" in log
        assert proc.alive()


async def test_connections_over_the_cap_get_503_and_the_server_recovers(fault_env_factory):
    cap = 30
    async with fault_env_factory(server={**LIMITS, "max_connections": cap}) as env:
        proc = await env.procs.serve()
        held = [await asyncio.open_connection("127.0.0.1", proc.port) for _ in range(cap)]
        await asyncio.sleep(0.3)
        # The 503 comes before the client says anything (so no request is left unread),
        # and while the held sockets are all still open: answered, not queued behind them.
        over = [await send_raw(proc.port, b"") for _ in range(40)]
        busy = [answer for answer in over if answer.startswith(b"HTTP/1.1 503")]
        assert len(busy) >= 35, [a[:40] for a in over]
        assert all(not r.at_eof() for r, _ in held)
        for _, writer in held:
            writer.close()
        assert await healthz_answers(proc.url) == 200  # once the flood is gone
        assert await env.callback(proc, text_xml("zhangsan", "back", msg_id=77)) == 200
        assert proc.log(100_000).count("connection limit 30 reached") == 1
        assert "Too many open files" not in proc.log(100_000)
        assert proc.alive()
