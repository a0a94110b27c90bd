"""A WeCom + Feishu stand-in on 127.0.0.1 that answers fast and records arrival times.

It speaks the slice of both server APIs the bot uses to send (WeCom: gettoken,
message/send, appchat/send, webhook/send, message/update_template_card; Feishu: tenant
token, messages create / reply / PATCH, batch_get_id) with well-formed success answers.
Each call is stamped with `time.perf_counter()` on arrival: the benchmark sends the
candidate's callback from the same process, so both ends use one clock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench.payloads import FEISHU, WECOM

WECOM_HR_CHAT = "wrBenchHrChat"
FEISHU_HR_CHAT = "oc_bench_hr_chat"


@dataclass
class Arrival:
    at: float  # time.perf_counter()
    platform: str
    endpoint: str
    to: str  # touser / chatid / receive_id
    body: str  # the raw JSON body, for matching a candidate's name


@dataclass
class Standin:
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Standin:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/cgi-bin/{endpoint:.+}", self._wecom)
        app.router.add_route("*", "/open-apis/{endpoint:.+}", self._feishu)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp has no getter
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _record(self, platform: str, endpoint: str, to: str, raw: bytes) -> None:
        self.arrivals.append(
            Arrival(time.perf_counter(), platform, endpoint, to, raw.decode("utf-8", "replace"))
        )
        self._changed.set()

    async def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wake on every arrival until `done()` holds; False when time ran out."""
        deadline = time.perf_counter() + timeout
        while not done():
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass
        return True

    # -- WeCom ----------------------------------------------------------------------------

    async def _wecom(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        raw = await request.read()
        if endpoint == "gettoken":
            if request.query.get("corpsecret") != WECOM["secret"]:
                return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
            token = f"bench-token-{next(self._ids)}"
            return web.json_response(
                {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
            )
        body = _json(raw)
        to = str(body.get("touser") or body.get("chatid") or "")
        self._record("wecom", endpoint, to, raw)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if endpoint == "message/send":
            n = next(self._ids)
            answer.update(invaliduser="", msgid=f"msg-{n}", response_code=f"rc-{n}")
        return web.json_response(answer)

    # -- Feishu ---------------------------------------------------------------------------

    async def _feishu(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        raw = await request.read()
        if endpoint == "auth/v3/tenant_access_token/internal":
            if _json(raw).get("app_secret") != FEISHU["app_secret"]:
                return web.json_response({"code": 10014, "msg": "app secret invalid"})
            token = f"t-bench-{next(self._ids)}"
            return web.json_response({"code": 0, "tenant_access_token": token, "expire": 7200})
        if endpoint == "contact/v3/users/batch_get_id":
            return web.json_response({"code": 0, "data": {"user_list": []}})
        body = _json(raw)
        self._record("feishu", endpoint, str(body.get("receive_id") or ""), raw)
        return web.json_response({"code": 0, "data": {"message_id": f"om_{next(self._ids)}"}})


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
