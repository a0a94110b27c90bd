"""Feishu ingest over the long connection, beside the webhook, on one `offerbot serve`.

    python -m bench.feishu_ws [--quick] [--backend sqlite|postgres ...]

`offerbot serve --no-worker` runs with `[feishu] connection = "websocket"` against a
loopback Feishu in this process (endpoint call, then protobuf frames as lark-oapi's
protocol has them; pongs answered). The long connection gets N `im.message.receive_v1`
frames, at most WINDOW of them unacknowledged at a time (Feishu pushes without waiting
for each ack): events/s and push→ack latency. The webhook gets the same number of
encrypted, signed callbacks at full speed on WINDOW connections. Then every acknowledged
event is looked for in the database (an ack must mean a committed row).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/feishu_ws.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import WSMsgType, web

from bench import backends, botconfig, cli, loadgen, procs
from bench.payloads import FeishuCallbacks, builders

WINDOW = 50
COUNT, QUICK_COUNT = 3000, 300
SERVICE_ID = 1


class LoopbackFeishu:
    """Just enough of Feishu's long-connection side to push frames and time the acks."""

    def __init__(self) -> None:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame  # the protocol's own frame type

        self.Frame = Frame
        self.ws: web.WebSocketResponse | None = None
        self.ready = asyncio.Event()
        self.sent_at: dict[str, float] = {}
        self.acked: dict[str, tuple[float, int]] = {}
        self.slots = asyncio.Semaphore(WINDOW)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._connection)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = procs.free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _endpoint(self, request: web.Request) -> web.Response:
        config = {"ReconnectCount": -1, "ReconnectInterval": 5, "ReconnectNonce": 0,
                  "PingInterval": 30}  # fmt: skip
        url = f"{self.url.replace('http', 'ws', 1)}/ws?device_id=bench&service_id={SERVICE_ID}"
        return web.json_response({"code": 0, "data": {"URL": url, "ClientConfig": config}})

    def _frame(self, method: int, headers: dict[str, str], payload: bytes) -> bytes:
        frame = self.Frame()
        frame.SeqID, frame.LogID, frame.service, frame.method = 0, 0, SERVICE_ID, method
        for key, value in headers.items():
            h = frame.headers.add()
            h.key, h.value = key, value
        frame.payload = payload
        return frame.SerializeToString()

    async def _connection(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        self.ready.set()
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                continue
            frame = self.Frame()
            frame.ParseFromString(msg.data)
            headers = {h.key: h.value for h in frame.headers}
            if frame.method == 0:  # a ping: answer it
                pong = json.dumps({"PingInterval": 30, "ReconnectCount": -1,
                                   "ReconnectInterval": 5, "ReconnectNonce": 0})  # fmt: skip
                await ws.send_bytes(self._frame(0, {"type": "pong"}, pong.encode()))
                continue
            mid = headers.get("message_id", "")
            if mid in self.sent_at and mid not in self.acked:
                code = int(json.loads(frame.payload).get("code", 0))
                self.acked[mid] = (time.perf_counter(), code)
                self.slots.release()
        return ws

    async def push(self, frames: list[tuple[str, bytes]]) -> loadgen.Result:
        res = loadgen.Result("long connection")
        assert self.ws is not None
        began = time.perf_counter()
        for mid, payload in frames:
            await self.slots.acquire()
            headers = {"type": "event", "message_id": mid, "sum": "1", "seq": "0",
                       "trace_id": mid}  # fmt: skip
            self.sent_at[mid] = time.perf_counter()
            await self.ws.send_bytes(self._frame(1, headers, payload))
            res.sent += 1
        deadline = time.monotonic() + 30
        while len(self.acked) < len(frames) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        res.elapsed = max(at for at, _ in self.acked.values()) - began if self.acked else 0.0
        for mid, (at, code) in self.acked.items():
            if code == 200:
                res.ok += 1
                res.latencies.append(at - self.sent_at[mid])
            else:
                res.errors += 1
        res.errors += len(frames) - len(self.acked)
        return res


async def run_backend(kind: str, workdir: Path, count: int) -> dict[str, Any]:
    feishu = LoopbackFeishu()
    await feishu.start()
    try:
        async with backends.backend(kind, workdir) as be:
            port = procs.free_port()
            sections = botconfig.sections(be, port, platforms=("feishu",), api_base_url=feishu.url)
            sections["feishu"]["connection"] = "websocket"
            config = procs.write_config(workdir / f"ws-{kind}.toml", sections)
            bot = procs.serve(config, port, workdir / f"ws-{kind}-serve.log", worker=False)
            bot.start()
            try:
                await asyncio.wait_for(feishu.ready.wait(), 60)
                maker = FeishuCallbacks(bot.url)
                frames = []
                for i in range(count):
                    mid = f"om_ws_{time.time_ns()}_{i}"
                    payload = maker.payload(f"ou_bench_{i % 1000}", f"你好 {i}", mid)
                    frames.append((mid, json.dumps(payload, ensure_ascii=False).encode()))
                ws = await feishu.push(frames)
                callbacks = builders(bot.url)["feishu"].batch(count)
                hook = await loadgen.full_speed(
                    "webhook", lambda i: callbacks[i].request, connections=WINDOW,
                    count=len(callbacks), max_seconds=30,
                )  # fmt: skip
            finally:
                bot.stop(kill=True)
                procs.stop_embedded_redis(be.data_dir)
            ids = [mid for mid, (_, code) in feishu.acked.items() if code == 200]
            rows = {r[0] for r in await be.rows("SELECT event_id FROM inbound_event")}
    finally:
        await feishu.stop()
    return {
        "backend": kind,
        "label": backends.LABELS[kind],
        "rows": [ws.row(), hook.row()],
        "acked_missing": len([i for i in ids if i not in rows]),
    }


async def run(workdir: Path, *, quick: bool = False, kinds=backends.KINDS) -> list[dict]:
    count = QUICK_COUNT if quick else COUNT
    return [await run_backend(kind, workdir, count) for kind in kinds]


def markdown(results: list[dict[str, Any]]) -> str:
    out = []
    for res in results:
        out += [
            f"#### {res['label']}: Feishu events, long connection beside webhook",
            "",
            "| path | events | ok | events/s | p50 ms | p95 ms | p99 ms | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in res["rows"]:
            out.append(
                f"| {row['label']} | {row['requests']} | {row['ok']} | {row['req_per_s']:,.0f} "
                f"| {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} "
                f"| {row['errors']} |"
            )
        out += ["", f"Acknowledged over the long connection but not stored: "
                f"{res['acked_missing']}.", ""]  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__, "300 events (smoke run)").parse_args(argv)
    cli.run(
        args, lambda tmp: asyncio.run(run(tmp, quick=args.quick, kinds=cli.kinds(args))), markdown
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
