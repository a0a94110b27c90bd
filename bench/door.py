"""The HTTP door under hostile clients, timed: what tests/faults/test_door.py proves by the
order of events, measured in seconds here.

    python -m bench.door [--quick] [--backend sqlite|postgres ...]

`offerbot serve --no-worker` (WeCom enabled, platform API on a closed port) with
`header_timeout = 1`, `body_timeout = 1`, `keepalive_timeout = 4`, `max_connections = 30`.
- Signed WeCom callbacks one after another, first alone, then while four clients send
  gzip bombs (1 MB inflating to 1 GiB) back to back, each bomb on a new connection:
  acknowledgement latency, and how many bombs were refused meanwhile.
- Seconds until the server closes: a request head trickled a byte every 0.3 s, a body
  that stops after 10 of its 100 bytes (answered 408), a keep-alive socket left idle after
  one answer, a socket that never sends a byte — each beside the configured limit.
- 30 sockets held open, then 40 more: seconds until each of the 40 has its 503.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import zlib
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/door.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench import backends, botconfig, cli, procs
from bench.payloads import builders
from bench.slow_clients import Trickle

LIMITS = {"header_timeout": 1, "body_timeout": 1, "keepalive_timeout": 4, "max_connections": 30}
CALLBACKS, QUICK_CALLBACKS = 50, 10
BOMBERS = 4
OVER_CAP = 40
GUARD = 30.0  # seconds before a socket the server never closes counts as open


def gzip_bomb(megabytes: int = 1024) -> bytes:
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


def bomb_head(length: int) -> bytes:
    return (
        "POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def _raw(port: int, data: bytes) -> tuple[bytes, float]:
    """Send `data`, read until the server closes: (answer, seconds from connect)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), GUARD)
    except ConnectionError:
        answer = b"reset"
    writer.close()
    return answer, time.perf_counter() - started


async def _closed_after(reader: asyncio.StreamReader) -> float | None:
    """Seconds until the server closed the socket; None if not within GUARD."""
    started = time.perf_counter()
    try:
        while await asyncio.wait_for(reader.read(65536), GUARD):
            pass
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return time.perf_counter() - started


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


async def _acks(url: str, count: int) -> tuple[list[float], int]:
    """`count` signed WeCom callbacks one after another: latencies, and non-200 answers."""
    callbacks = builders(url)["wecom"].batch(count)
    seconds, failed = [], 0
    async with aiohttp.ClientSession() as http:
        for cb in callbacks:
            method, target, headers, body = cb.request
            started = time.perf_counter()
            async with http.request(method, target, headers=headers, data=body) as resp:
                await resp.read()
                seconds.append(time.perf_counter() - started)
                failed += resp.status != 200
    return seconds, failed


async def bombs_beside_callbacks(url: str, port: int, count: int) -> dict[str, Any]:
    alone, failed_alone = await _acks(url, count)
    bomb = gzip_bomb()
    data = bomb_head(len(bomb)) + bomb
    stop = asyncio.Event()
    refused = {"415": 0, "other": 0}

    async def bomber() -> None:
        while not stop.is_set():
            answer, _ = await _raw(port, data)
            ok = answer.startswith(b"HTTP/1.1 415") or answer == b"reset"
            refused["415" if ok else "other"] += 1

    bombers = [asyncio.create_task(bomber()) for _ in range(BOMBERS)]
    await asyncio.sleep(0.2)  # the bombs are on their way
    try:
        beside, failed_beside = await _acks(url, count)
    finally:
        stop.set()
        await asyncio.gather(*bombers)
    return {
        "callbacks": count,
        "alone": _ms(alone),
        "beside_bombs": _ms(beside),
        "failed": failed_alone + failed_beside,
        "bombs_refused": refused["415"],
        "bombs_answered_otherwise": refused["other"],
    }


async def closes(port: int) -> dict[str, float | None]:
    """Seconds until the server closes each kind of slow or silent client."""
    out: dict[str, float | None] = {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\n")
    dribble = asyncio.create_task(Trickle(writer, 100).run())
    out["slow_headers_s"] = await _closed_after(reader)
    dribble.cancel()
    writer.close()

    head = (
        b"POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\n"
        b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n"
    )
    answer, seconds = await _raw(port, head + b"<xml>01234")
    out["slow_body_408_s"] = seconds if answer.startswith(b"HTTP/1.1 408") else None

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"}"), GUARD)  # /healthz answers JSON
    out["idle_keepalive_s"] = await _closed_after(reader)
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out["mute_socket_s"] = await _closed_after(reader)
    writer.close()
    return {k: round(v, 3) if v is not None else None for k, v in out.items()}


async def over_the_cap(port: int) -> dict[str, Any]:
    cap = LIMITS["max_connections"]
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(cap)]
    await asyncio.sleep(0.3)
    try:
        over = [await _raw(port, b"") for _ in range(OVER_CAP)]
    finally:
        for _, writer in held:
            writer.close()
    seconds = [s for answer, s in over if answer.startswith(b"HTTP/1.1 503")]
    return {"sent": OVER_CAP, "answered_503": len(seconds), **(_ms(seconds) if seconds else {})}


async def run_backend(kind: str, workdir: Path, count: int) -> dict[str, Any]:
    async with backends.backend(kind, workdir) as be:
        port = procs.free_port()
        sections = botconfig.sections(
            be, port, platforms=("wecom",), api_base_url=procs.closed_port_url()
        )
        sections["server"].update(LIMITS)
        config = procs.write_config(workdir / f"door-{kind}.toml", sections)
        bot = procs.serve(config, port, workdir / f"door-{kind}-serve.log", worker=False)
        bot.start()
        try:
            bombs = await bombs_beside_callbacks(bot.url, port, count)
            closed = await closes(port)
            cap = await over_the_cap(port)
            alive = bot.proc is not None and bot.proc.poll() is None
        finally:
            bot.stop()
            procs.stop_embedded_redis(be.data_dir)
    return {
        "backend": kind,
        "label": backends.LABELS[kind],
        "schema": be.schema,
        "limits": LIMITS,
        "bombs": bombs,
        "closes": closed,
        "over_cap": cap,
        "alive": alive,
    }


async def run(
    workdir: Path, *, quick: bool = False, kinds: tuple[str, ...] = backends.KINDS
) -> list[dict[str, Any]]:
    count = QUICK_CALLBACKS if quick else CALLBACKS
    return [await run_backend(kind, workdir, count) for kind in kinds]


def markdown(results: list[dict[str, Any]]) -> str:
    limits = results[0]["limits"] if results else LIMITS
    out = [
        f"Limits: header_timeout {limits['header_timeout']} s, body_timeout "
        f"{limits['body_timeout']} s, keepalive_timeout {limits['keepalive_timeout']} s, "
        f"max_connections {limits['max_connections']}.",
        "",
        "| set-up | callbacks | ack p50 / max ms alone | ack p50 / max ms beside "
        f"{BOMBERS} bombers | bombs refused | slow head closed s | slow body 408 s "
        "| idle keep-alive closed s | mute socket closed s | 503s over the cap, max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def s(v: float | None) -> str:
        return "never" if v is None else f"{v:g}"

    for res in results:
        b, c, cap = res["bombs"], res["closes"], res["over_cap"]
        out.append(
            f"| {res['label']} | {b['callbacks']} ({b['failed']} failed) "
            f"| {b['alone']['p50_ms']} / {b['alone']['max_ms']} "
            f"| {b['beside_bombs']['p50_ms']} / {b['beside_bombs']['max_ms']} "
            f"| {b['bombs_refused']} ({b['bombs_answered_otherwise']} otherwise) "
            f"| {s(c['slow_headers_s'])} | {s(c['slow_body_408_s'])} "
            f"| {s(c['idle_keepalive_s'])} | {s(c['mute_socket_s'])} "
            f"| {cap['answered_503']}/{cap['sent']}, {cap.get('max_ms', '–')} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__, "fewer callbacks").parse_args(argv)
    cli.run(
        args, lambda tmp: asyncio.run(run(tmp, quick=args.quick, kinds=cli.kinds(args))), markdown
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
