"""`offerbot doctor`: check every enabled integration for real, one line each.

`check-config` reads the file; the doctor uses the credentials: it opens the database,
pings Redis, fetches the platforms' tokens and asks whether the HR group can be reached,
logs in to the SMTP server and makes a signed SMS call (bot/doctor_reach.py), and for
each failure prints the fix in words (see docs/deployment.md, "offerbot doctor").
It sends nothing to anyone: the WeCom group robot has no read-only call, so its key is
only checked for shape.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.base import PermanentError, TransientError
from bot.channels.wecom.api import WecomApi, WecomApiError
from bot.config import Settings
from bot.doctor_reach import reach_checks
from bot.problems import Problems

FEISHU_TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
FEISHU_WS_ENDPOINT = "/callback/ws/endpoint"  # the long connection's first call
FEISHU_WS_FIX = (
    "copy App ID and App Secret from 开发者后台 → 凭证与基础信息, and check that the app "
    "is a 自建应用 (only internal apps may use the long connection)"
)

# What an operator does about each refusal (codes as the platforms send them).
WECOM_FIXES = {
    40001: "wecom.secret was refused: copy the app's Secret again "
    "(管理后台 → 应用管理 → your app → Secret)",
    40013: "wecom.corp_id was refused: copy 企业ID from 我的企业 → 企业信息",
    60020: "this server's egress IP is not trusted: add it to the app's 企业可信IP "
    "(应用管理 → your app → 企业可信IP)",
    86003: "wecom.hr_chat_id is not a group this app created: create the HR group with the "
    "app (appchat/create) or leave hr_chat_id empty and use hr_webhook_key",
    48002: "the app may not call this API: check the app's API permissions",
}
FEISHU_FIXES = {
    10003: "feishu.app_id was refused: copy the App ID from 开发者后台 → 凭证与基础信息",
    10014: "feishu.app_secret was refused: copy the App Secret from 凭证与基础信息",
    99991663: "feishu.app_secret was refused: copy the App Secret from 凭证与基础信息",
}
FEISHU_NOT_IN_CHAT = (
    "the bot is not in the HR group: open the group → 设置 → 群机器人 → 添加机器人 → "
    "choose this app (the app needs 机器人 capability enabled)"
)
ROBOT_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not checked (nothing to check, or not checkable)
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "--  "}[self.ok]
        text = f"{mark} {self.name}: {self.detail}"
        return f"{text}\n       fix: {self.fix}" if self.fix else text


async def run_checks(settings: Settings) -> list[Check]:
    """All checks for this config, in the order an operator fixes them."""
    checks = [await _database(settings), await _redis(settings)]
    timeout = aiohttp.ClientTimeout(total=settings.delivery.http_timeout.total_seconds())
    async with aiohttp.ClientSession(timeout=timeout) as http:
        if settings.wecom.enabled:
            checks += await _wecom(settings, http)
        if settings.feishu.enabled:
            checks += await _feishu(settings, http)
        checks += await reach_checks(settings, http, Check)  # SMS and e-mail
    if settings.wecom_bot.enabled:
        checks.append(await _wecom_bot(settings))
    if not (settings.wecom.enabled or settings.feishu.enabled or settings.wecom_bot.enabled):
        checks.append(Check("platforms", None, "none enabled (the playground needs nothing)"))
    return checks


async def _guard(name: str, probe: Callable[[], Awaitable[Check]], fix: str) -> Check:
    try:
        return await probe()
    except (OSError, TimeoutError, aiohttp.ClientError, TransientError) as exc:
        return Check(name, False, f"unreachable ({type(exc).__name__}: {exc})"[:300], fix)


async def _database(settings: Settings) -> Check:
    from tortoise import Tortoise

    from bot.storage import db

    async def probe() -> Check:
        await Tortoise.init(config=db.tortoise_config(settings))
        try:
            conn = Tortoise.get_connection("default")
            await conn.execute_query("SELECT 1")
        finally:
            await Tortoise.close_connections()
        return Check("database", True, _where(settings.database.url))

    return await _service(
        "database",
        settings.database.url,
        probe,
        "check database.url (host, port, user, password, database name)",
    )


async def _redis(settings: Settings) -> Check:
    if not settings.redis.url:
        return Check("redis", None, "embedded (started by offerbot serve)")
    from bot.queue import connect

    async def probe() -> Check:
        redis = await connect(settings)
        try:
            await redis.ping()
        finally:
            await redis.aclose()
        return Check("redis", True, _where(settings.redis.url))

    return await _service(
        "redis", settings.redis.url, probe, "check redis.url and that the server runs"
    )


async def _service(name: str, url: str, probe: Callable[[], Awaitable[Check]], fix: str) -> Check:
    """A database or Redis check: any client error is the answer (the URL without its
    password, the error's type; never the secret)."""
    try:
        return await probe()
    except Exception as exc:  # noqa: BLE001 - any driver error is the answer here
        return Check(name, False, f"{_where(url)}: {type(exc).__name__}"[:300], fix)


async def _wecom(settings: Settings, http: aiohttp.ClientSession) -> list[Check]:
    cfg = settings.wecom
    api = WecomApi(cfg, http, None, Problems(None))  # no Redis: nothing cached, all real
    unreachable = f"check wecom.api_base_url ({cfg.api_base_url}) and the outbound network"

    async def token() -> Check:
        await api.token()
        return Check("wecom token", True, f"fetched for corp {cfg.corp_id}")

    checks = [await _wecom_guard("wecom token", token, unreachable)]
    if checks[0].ok is not True:
        return checks  # every other call needs the token

    if cfg.hr_chat_id:

        async def chat() -> Check:
            data = await api.call("appchat/get", params={"chatid": cfg.hr_chat_id}, method="GET")
            name = (data.get("chat_info") or {}).get("name", cfg.hr_chat_id)
            return Check("wecom HR group", True, f"app chat {name!r} reachable")

        checks.append(await _wecom_guard("wecom HR group", chat, unreachable))
    if cfg.hr_webhook_key:
        shape = bool(ROBOT_KEY.match(cfg.hr_webhook_key))
        checks.append(
            Check(
                "wecom HR robot",
                None if shape else False,
                "key set (not sent to: the robot has no read-only call)"
                if shape
                else "hr_webhook_key does not look like a robot key",
                ""
                if shape
                else "copy the key=… part of the group robot's webhook address "
                "(群设置 → 群机器人 → the robot → Webhook 地址)",
            )
        )
    bot_has_hr = settings.wecom_bot.enabled and settings.wecom_bot.hr_chat_id
    if not (cfg.hr_chat_id or cfg.hr_webhook_key or bot_has_hr):
        checks.append(
            Check(
                "wecom HR group",
                False,
                "no HR group set: alerts cannot reach HR on WeCom",
                "set wecom.hr_webhook_key (a group robot) or wecom.hr_chat_id, or "
                "wecom_bot.hr_chat_id (the 智能机器人)",
            )
        )
    if cfg.kf_open_kfid:

        async def kf() -> Check:
            data = await api.call("kf/account/list", {"offset": 0, "limit": 100})
            ids = {a.get("open_kfid") for a in data.get("account_list") or []}
            if cfg.kf_open_kfid in ids:
                return Check("wecom 微信客服", True, f"account {cfg.kf_open_kfid} found")
            return Check(
                "wecom 微信客服",
                False,
                f"{cfg.kf_open_kfid} is not one of this app's 微信客服 accounts",
                "copy open_kfid from 微信客服 → 账号, and give the app the 微信客服 API "
                "(微信客服 → API → 可调用接口的应用)",
            )

        checks.append(await _wecom_guard("wecom 微信客服", kf, unreachable))
    return checks


async def _wecom_guard(name: str, probe: Callable[[], Awaitable[Check]], fix: str) -> Check:
    try:
        return await _guard(name, probe, fix)
    except WecomApiError as exc:
        return Check(name, False, str(exc)[:300], WECOM_FIXES.get(exc.code, _ask(exc.code)))
    except PermanentError as exc:
        return Check(name, False, str(exc)[:300], fix)


async def _feishu(settings: Settings, http: aiohttp.ClientSession) -> list[Check]:
    cfg = settings.feishu
    base = cfg.api_base_url.rstrip("/")
    unreachable = f"check feishu.api_base_url ({cfg.api_base_url}) and the outbound network"
    found: dict[str, str] = {}

    async def token() -> Check:
        body = {"app_id": cfg.app_id, "app_secret": cfg.app_secret}
        answer = await _feishu_json(http, "POST", base + FEISHU_TOKEN_PATH, json=body)
        code = answer.get("code")
        if code == 0 and isinstance(answer.get("tenant_access_token"), str):
            found["token"] = answer["tenant_access_token"]
            return Check("feishu token", True, f"fetched for app {cfg.app_id}")
        return _feishu_refusal("feishu token", answer)

    checks = [await _guard("feishu token", token, unreachable)]
    if cfg.connection == "websocket":
        checks.append(
            await _guard("feishu long connection", lambda: _feishu_ws(cfg, http), unreachable)
        )
    if "token" not in found:
        return checks
    if not cfg.hr_chat_id:
        checks.append(
            Check(
                "feishu HR group",
                False,
                "feishu.hr_chat_id is empty: alerts cannot reach HR on Feishu",
                "add the bot to the HR group and put the group's chat_id (oc_…) in "
                "feishu.hr_chat_id",
            )
        )
        return checks

    async def chat() -> Check:
        url = f"{base}/open-apis/im/v1/chats/{cfg.hr_chat_id}/members/is_in_chat"
        headers = {"Authorization": f"Bearer {found['token']}"}
        answer = await _feishu_json(http, "GET", url, headers=headers)
        if answer.get("code") != 0:
            return _feishu_refusal("feishu HR group", answer, FEISHU_NOT_IN_CHAT)
        if (answer.get("data") or {}).get("is_in_chat") is True:
            return Check("feishu HR group", True, f"the bot is in {cfg.hr_chat_id}")
        return Check(
            "feishu HR group", False, f"the bot is not in {cfg.hr_chat_id}", FEISHU_NOT_IN_CHAT
        )

    checks.append(await _guard("feishu HR group", chat, unreachable))
    return checks


async def _feishu_ws(cfg: Any, http: aiohttp.ClientSession) -> Check:
    """The endpoint call `serve` makes before it opens the long connection. The WebSocket
    itself is not opened: Feishu would hand events to it (docs/long-connections.md)."""
    url = cfg.api_base_url.rstrip("/") + FEISHU_WS_ENDPOINT
    body = {"AppID": cfg.app_id, "AppSecret": cfg.app_secret}
    answer = await _feishu_json(http, "POST", url, json=body, headers={"locale": "zh"})
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    ws_url = data.get("URL") if isinstance(data.get("URL"), str) else ""
    if answer.get("code") == 0 and ws_url.startswith(("wss://", "ws://")):
        host = ws_url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        return Check("feishu long connection", True, f"endpoint answered ({host})")
    if answer.get("code") == 0:
        return Check("feishu long connection", False, "endpoint answered without a URL", _ask(0))
    return _feishu_refusal("feishu long connection", answer, FEISHU_WS_FIX)


async def _feishu_json(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> dict[str, Any]:
    async with http.request(method, url, **kwargs) as resp:
        if resp.status >= 500:
            raise TransientError(f"HTTP {resp.status}")
        try:
            data = await resp.json(content_type=None)
        except ValueError:
            raise TransientError(f"HTTP {resp.status}, not JSON") from None
    return data if isinstance(data, dict) else {"code": -1, "msg": "not a JSON object"}


def _feishu_refusal(name: str, answer: dict[str, Any], default_fix: str = "") -> Check:
    code = answer.get("code")
    msg = str(answer.get("msg", ""))[:200]
    fix = FEISHU_FIXES.get(code) if isinstance(code, int) else None
    return Check(name, False, f"refused ({code}: {msg})", fix or default_fix or _ask(code))


def _ask(code: Any) -> str:
    return f"look up error code {code} in the platform's error code list"


def _where(url: str) -> str:
    """A URL without its credentials, for the report."""
    return re.sub(r"//[^@/]*@", "//", url)


WECOM_BOT_FIX = (
    "wecom_bot.bot_id / wecom_bot.secret were refused: copy both again from 智能机器人 → "
    "your bot → API 模式 → 长连接 (the Secret changes when it is reset)"
)


async def _wecom_bot(settings: Settings) -> Check:
    """Subscribe once against ws_url, unless a serve process holds the connection now:
    WeCom keeps one connection per bot, and a second one would push the holder off."""
    import asyncio

    from bot.channels.wecom_bot.relay import keys
    from bot.transports.wecom_bot.connection import BotConnection

    cfg = settings.wecom_bot
    name = "wecom_bot connection"
    if settings.redis.url:
        from bot.queue import connect

        try:
            redis = await connect(settings)
            try:
                held = await redis.exists(keys(cfg.bot_id)["lease"])
            finally:
                await redis.aclose()
        except Exception:  # noqa: BLE001 - no Redis: the redis check says so; subscribe anyway
            held = False
        if held:
            return Check(name, True, "held by a running offerbot serve (not opened twice)")
    conn = BotConnection(cfg.ws_url, cfg.bot_id, cfg.secret, on_frame=lambda frame: None)
    unreachable = f"check wecom_bot.ws_url ({cfg.ws_url}) and the outbound network (wss, 443)"
    try:
        await asyncio.wait_for(conn.connect(), timeout=15)
        assert conn.subscribed is not None
        reply = await asyncio.wait_for(conn.subscribed, timeout=10)
    except Exception as exc:  # noqa: BLE001 - refused, TLS, DNS, timeout: all say "unreachable"
        return Check(name, False, f"unreachable ({type(exc).__name__})", unreachable)
    finally:
        await conn.close()
    if reply.get("errcode") != 0:
        code = reply.get("errcode")
        return Check(name, False, f"subscribe refused (errcode {code})", WECOM_BOT_FIX)
    return Check(name, True, f"subscribed as {cfg.bot_id}")
