"""No public URL, end to end (docs/long-connections.md): a company runs offerbot with no
inbound port reachable from outside.

- Feishu: a real `offerbot serve` process with `connection = "websocket"` against the
  loopback Feishu (tests/standins/feishu_ws.py). HR sends the offer with `/offer` in the
  HR group, the candidate answers in words and by a card click, HR claims the alert from
  its card: every event and click comes through the long connection, and the process
  never serves `POST /feishu/events`.
- Feishu: the process SIGKILLed right after it acknowledged an event; after a restart
  Feishu delivers the event again and it is processed exactly once.
- WeCom: candidates on the app (signed callbacks), HR on the 智能机器人's long
  connection: the hesitant candidate's alert arrives as a template card, 认领 claims it
  and updates the card, `@bot /pending` is answered through the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.storage.models import Alert, InboundEvent, Offer
from bot.transports.registry import build_transports
from tests import offer_steps
from tests.helpers import API_TOKEN, auth, drain, wait_for
from tests.offer_steps import PHONE, in_days
from tests.standins.feishu import FeishuSender, FeishuStandin
from tests.standins.feishu_ws import FeishuWsStandin
from tests.standins.wecom import text_xml, wecom_env
from tests.standins.wecom_bot import BOT_ID, SECRET, AibotStandin
from tests.test_feishu_webhook import buttons
from tests.test_serve import free_port

ROOT = Path(__file__).resolve().parent.parent
HESITANT = "我再考虑一下，薪资还能再谈吗？"
HR_CHAT = "wrHRgroup001"  # the WeCom HR group the AI bot is in


# -- a real `offerbot serve` in websocket mode ----------------------------------------------


@pytest.fixture
async def feishu() -> AsyncIterator[FeishuWsStandin]:
    http = FeishuStandin()
    ws = FeishuWsStandin(http)  # the long connection on the open API's origin
    async with http:
        yield ws


@pytest.fixture
def sender(feishu) -> FeishuSender:
    # Over the long connection Feishu neither signs nor encrypts: no token, no key.
    return FeishuSender(app_id=feishu.http.app_id, verification_token="", encrypt_key="")


@dataclass
class Serve:
    """One `offerbot serve` process and what a test needs to talk to it."""

    config: Path
    database: Path
    log: Path  # its stderr (a pipe nobody reads could fill up and block it)
    port: int
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, feishu: FeishuWsStandin) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        connections = feishu.connections
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", "--config", str(self.config),
                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        exited = asyncio.ensure_future(self.proc.wait())
        connected = asyncio.ensure_future(feishu.connected(connections + 1, timeout=90))
        await asyncio.wait({exited, connected}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            connected.cancel()
            raise AssertionError(f"serve exited: {await self.errors()}")
        exited.cancel()
        await connected  # a busy box imports lark-oapi slowly
        await until(self.healthy, timeout=60)

    async def healthy(self) -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{self.url}/healthz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def errors(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 40)
        except TimeoutError:
            await self.kill()
            raise
        errors = await self.errors()
        assert code == 0, errors
        assert "Traceback" not in errors, errors

    async def api(self, method: str, path: str, body: dict | None = None) -> dict:
        url = f"{self.url}{path}"
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, url, json=body, headers=auth()) as resp,
        ):
            assert resp.status in (200, 201), f"{path}: {resp.status} {await resp.text()}"
            return await resp.json()

    async def text(self, path: str) -> str:
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}{path}") as resp:
            return await resp.text()

    def rows(self, sql: str) -> list[tuple]:
        """Read the process's database from outside (what a crash left there)."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
async def serve(tmp_path, feishu, settings) -> AsyncIterator[Serve]:
    data = tmp_path / "srv"
    database = data / "offerbot.sqlite3"
    port = free_port()
    redis_url = settings.redis.url  # the session's Redis (embedded or the given server)
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    await client.flushdb()  # no queue left over from an earlier test
    await client.aclose()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
data_dir = "{data}"
[database]
url = "sqlite://{database}"
[redis]
url = "{redis_url}"
[server]
host = "127.0.0.1"
port = {port}
[api]
token = "{API_TOKEN}"
[company]
quiet_hours = []
language = "zh"
[worker]
sweep_interval = "1s"
stale_after = "5s"
[delivery]
backoff_base = "50ms"
backoff_max = "500ms"
[hr]
admins = ["feishu:ou_hr1"]
[feishu]
enabled = true
connection = "websocket"
app_id = "{feishu.http.app_id}"
app_secret = "{feishu.http.app_secret}"
api_base_url = "{feishu.http.url}"
hr_chat_id = "oc_hr"
""",
        encoding="utf-8",
    )
    srv = Serve(config, database, tmp_path / "serve.log", port)
    await srv.start(feishu)
    try:
        yield srv
    finally:
        if srv.proc is not None and srv.proc.returncode is None:
            await srv.stop()


async def until(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll a predicate (plain or async) until it holds; the serve process works on its own."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def words(message: dict) -> str:
    return json.dumps(message["content"], ensure_ascii=False)


def cards_with(feishu: FeishuWsStandin, action: str) -> list[dict]:
    """Cards the bot sent with a button whose value's action is `action`."""
    return [
        m
        for m in feishu.http.messages
        if m["msg_type"] == "interactive"
        and any(b["behaviors"][0]["value"].get("action") == action for b in buttons(m["content"]))
    ]


def button_value(card: dict, action: str) -> dict:
    return next(
        b["behaviors"][0]["value"]
        for b in buttons(card["content"])
        if b["behaviors"][0]["value"].get("action") == action
    )


def to(feishu: FeishuWsStandin, receive_id: str) -> list[dict]:
    return [m for m in feishu.http.messages if m.get("receive_id") == receive_id]


def in_hr_group(sender: FeishuSender, text: str) -> dict:
    """HR types `@offerbot <text>` in the HR group."""
    return sender.message(
        open_id="ou_hr1",
        text=f"@_user_1 {text}",
        chat_type="group",
        chat_id="oc_hr",
        mentions=[sender.bot_mention("@_user_1")],
    )


async def push(feishu: FeishuWsStandin, payload: dict, **kw: Any):
    """Push one frame over the long connection and return its ack."""
    ack = await feishu.ack(await feishu.send(payload, **kw), timeout=30)
    assert ack.code == 200, ack
    return ack


# -- 1. Feishu: the whole offer through the long connection ----------------------------------


async def test_feishu_offer_from_hr_command_to_acceptance_with_no_webhook(serve, feishu, sender):
    # HR sends the offer from the HR group: `/offer` in one line, then 确认发送 on the card.
    await push(
        feishu, in_hr_group(sender, f"/offer 王五 feishu:ou_wang 前端工程师 25k {in_days(30)}")
    )
    [summary] = await until(lambda: cards_with(feishu, "offer_confirm"))
    assert "25,000" in words(summary)
    assert not to(feishu, "ou_wang"), "nothing goes to the candidate before 确认"
    confirm = sender.click(
        open_id="ou_hr1",
        value=button_value(summary, "offer_confirm"),
        message_id=summary["message_id"],
        chat_id="oc_hr",
    )
    await push(feishu, confirm, message_id="frame-confirm")

    # The candidate gets the offer card.
    [offer_card] = await until(lambda: cards_with(feishu, "accept"))
    assert offer_card["receive_id"] == "ou_wang"
    [(offer_id,)] = serve.rows("SELECT id FROM offer")
    offer = await serve.api("GET", f"/api/v1/offers/{offer_id}")
    assert offer["status"] == "sent"

    # The candidate hesitates in words: the bot answers, and HR gets an alert card.
    before = len(to(feishu, "ou_wang"))
    await push(feishu, sender.message(open_id="ou_wang", text=HESITANT))
    await until(lambda: len(to(feishu, "ou_wang")) > before)
    [alert_card] = await until(lambda: cards_with(feishu, "claim"))
    assert alert_card["receive_id"] == "oc_hr"
    body = "".join(e.get("content", "") for e in alert_card["content"]["body"]["elements"])
    assert "薪资还能再谈" in body
    header = alert_card["content"].get("header", {}).get("title", {}).get("content", "")
    shown = header + "\n" + body
    assert shown.count("候选人犹豫") == 1 and "🤔 候选人犹豫 · #" in shown  # said once

    # HR claims it from the card: the answer comes back in the click's own ack frame.
    claim = button_value(alert_card, "claim")
    click = sender.click(
        open_id="ou_hr1", value=claim, message_id=alert_card["message_id"], chat_id="oc_hr"
    )
    ack = await push(feishu, click, message_id="frame-claim")
    assert ack.answer["toast"]["type"] == "success"
    actions = [b["behaviors"][0]["value"]["action"] for b in buttons(ack.answer["card"]["data"])]
    assert "claim" not in actions and "resolve" in actions

    # The candidate accepts on the offer card, through the long connection too.
    accept = sender.click(
        open_id="ou_wang",
        value=button_value(offer_card, "accept"),
        message_id=offer_card["message_id"],
    )
    ack = await push(feishu, accept, message_id="frame-accept")
    assert ack.answer["toast"]["content"].startswith("已收到：接受")
    await until(lambda: offer_accepted(serve, offer["id"]))
    await until(lambda: claimed(serve, claim["alert_id"]))
    # The worker then updates the clicked card itself: who has the alert, 已处理 left.
    def alert_patches() -> list[dict]:
        return [p for p in feishu.http.patches if p["message_id"] == alert_card["message_id"]]

    [patch] = await until(alert_patches)  # the offer card is replaced too (✅ 已接受)
    assert "ou_hr1" in words(patch) and "认领" in words(patch)
    assert [b["behaviors"][0]["value"]["action"] for b in buttons(patch["content"])][0] == "resolve"
    await until(lambda: settled(serve))  # nothing failed, nothing left undelivered

    # Nothing came in by webhook: the route was never served, every event was a frame.
    metrics = await serve.text("/metrics")
    assert "/feishu/events" not in metrics
    assert 'offerbot_feishu_ws_acks_total{outcome="accepted"}' in metrics
    assert 'offerbot_inbound_total{outcome="stored",platform="feishu"} 5.0' in metrics


async def offer_accepted(serve: Serve, offer_id: int) -> bool:
    return (await serve.api("GET", f"/api/v1/offers/{offer_id}"))["status"] == "accepted"


async def claimed(serve: Serve, alert_id: int) -> bool:
    rows = serve.rows(f"SELECT status, claimed_by FROM alert WHERE id = {int(alert_id)}")
    return rows == [("claimed", "feishu:ou_hr1")]


# -- 2. Feishu: SIGKILL right after an ack ----------------------------------------------------


async def test_sigkill_right_after_an_ack_then_redelivery_is_processed_once(serve, feishu, sender):
    """The process dies the instant its ack reaches Feishu (whatever its worker had done
    by then). Feishu delivers the event again to the restarted process: one acceptance,
    one welcome, one stored event. (tests/test_feishu_ws.py covers the clean stop.)"""
    await serve.api("POST", "/api/v1/requisitions", {"external_id": "req-be", "title": "后端"})
    person = await serve.api(
        "POST", "/api/v1/candidates", {"name": "张三", "feishu_open_id": "ou_zhang"}
    )
    application = await serve.api(
        "POST",
        "/api/v1/applications",
        {"candidate_id": person["id"], "requisition_external_id": "req-be"},
    )
    offer = await serve.api(
        "POST",
        "/api/v1/offers",
        {
            "application_id": application["id"],
            "salary_monthly": "30000",
            "start_date": in_days(30),
            "channel": "feishu",
        },
    )
    await until(lambda: cards_with(feishu, "accept"))

    async def kill_on_ack(ack) -> None:  # runs as the ack frame arrives, before it is recorded
        if ack.message_id == "frame-kill" and serve.proc.returncode is None:
            serve.proc.kill()

    feishu.on_ack = kill_on_ack
    payload = sender.message(open_id="ou_zhang", text="1", message_id="om_killed")
    await push(feishu, payload, message_id="frame-kill")
    await serve.proc.wait()
    assert serve.proc.returncode == -signal.SIGKILL
    feishu.on_ack = None
    assert serve.rows("SELECT event_id FROM inbound_event") == [("om_killed",)], "acked: stored"

    await serve.start(feishu)  # the same data dir, database and Redis
    await push(feishu, payload, message_id="frame-again")  # Feishu delivers it again
    await until(lambda: offer_accepted(serve, offer["id"]))
    await until(lambda: settled(serve), timeout=60)  # a job the kill cut short is taken again
    assert serve.rows("SELECT event_id, status FROM inbound_event") == [("om_killed", "done")]
    replies = [words(m) for m in to(feishu, "ou_zhang")[1:]]
    assert sum("欢迎加入" in r for r in replies) == 1, replies
    assert len(replies) == len(set(replies)), "each answer sent once"


def settled(serve: Serve) -> bool:
    """Nothing left to do: every inbound event handled, every outbox row delivered."""
    waiting = serve.rows(
        "SELECT (SELECT COUNT(*) FROM inbound_event WHERE status != 'done')"
        " + (SELECT COUNT(*) FROM outbox WHERE status != 'sent')"
    )
    return waiting == [(0,)]


# -- 3. WeCom: candidates on the app, HR on the 智能机器人's long connection -------------------


@pytest.fixture
async def aibot() -> AsyncIterator[AibotStandin]:
    standin = AibotStandin()
    async with standin.running():
        yield standin


@pytest.fixture
async def wecom(settings_factory, make_runtime, aibot) -> AsyncIterator[tuple[Any, Any]]:
    bot = {
        "enabled": True,
        "bot_id": BOT_ID,
        "secret": SECRET,
        "ws_url": aibot.url,
        "hr_chat_id": HR_CHAT,
        "reconnect_delay": "50ms",
        "send_timeout": "5s",
    }  # the default lease: a first classification may hold the loop past a 1 s one
    async with wecom_env(settings_factory, make_runtime, wecom_bot=bot) as env:
        (transport,) = build_transports(env.rt)
        env.rt.transports = [transport]
        await transport.start()
        try:
            await wait_for(lambda: connected(transport))
            yield env, transport
        finally:
            await transport.stop()


async def connected(transport) -> bool:
    return transport.status.state == "connected"


async def test_wecom_alert_card_claimed_and_pending_answered_through_the_ai_bot(wecom, aibot):
    env, transport = wecom
    answer = await offer_steps.make_offer(
        env.client,
        requisition={"external_id": "req-be", "title": "后端工程师"},
        candidate={"external_id": "c-1", "name": "李四", "phone": PHONE, "wecom_user_id": "lisi"},
        channel="wecom",
    )
    await drain(env.rt)
    assert {m["touser"] for m in env.standin.delivered("message/send")} == {"lisi"}

    # The candidate hesitates in the app chat (a signed, encrypted callback).
    sent_before = len(env.standin.delivered("message/send"))
    assert (await env.callback(text_xml("lisi", HESITANT))).status == 200
    await drain(env.rt)
    assert len(env.standin.delivered("message/send")) > sent_before, "the candidate is answered"

    # The alert reaches the HR group through the bot's connection: its words (too long for
    # a card) as markdown, then the template card with 认领 / 已处理.
    words_frame, card_frame = aibot.frames("aibot_send_msg")
    assert {words_frame["body"]["chatid"], card_frame["body"]["chatid"]} == {HR_CHAT}
    [alert] = await Alert.filter(offer_id=answer["id"])
    assert alert.status == "open"
    text = words_frame["body"]["markdown"]["content"]
    assert text.splitlines()[0].strip("*") == f"🤔 候选人犹豫 · #{alert.id}", text
    assert "李四" in text and "薪资还能再谈" in text
    assert PHONE not in text  # masked in the group
    # Read as HR on a phone: the title once, each command once.
    assert text.count("候选人犹豫") == 1 and text.count("/claim") == 1, text
    card = card_frame["body"]["template_card"]
    assert card["main_title"]["title"] == f"🤔 候选人犹豫 · #{alert.id}"  # which alert
    [claim] = [b for b in card["button_list"] if b["text"] == "认领"]
    assert not env.standin.delivered("webhook/send"), "the group robot is not used"

    # HR clicks 认领: the alert is claimed and the card updated on the click's req_id.
    click = await aibot.push(aibot.click(claim["key"], card["task_id"], chatid=HR_CHAT))
    await wait_for(lambda: stored("wecom_bot", 1))
    await drain(env.rt)
    await alert.refresh_from_db()
    assert (alert.status, alert.claimed_by) == ("claimed", "wecom:hr_zhang")
    [update] = aibot.frames("aibot_respond_update_msg")
    assert update["headers"]["req_id"] == click["headers"]["req_id"]
    updated = update["body"]["template_card"]
    assert updated["task_id"] == card["task_id"]
    assert [b["text"] for b in updated["button_list"]][:1] == ["已处理"]  # no 认领 left
    assert "hr_zhang" in updated["sub_title_text"]  # who claimed it

    # HR asks `@bot /pending` in the group: answered through the connection.
    ask = await aibot.push(aibot.message("@offerbot /pending", chatid=HR_CHAT))
    await wait_for(lambda: stored("wecom_bot", 2))
    await drain(env.rt)
    [respond] = aibot.frames("aibot_respond_msg")
    assert respond["headers"]["req_id"] == ask["headers"]["req_id"]
    content = respond["body"]["stream"]["content"]
    assert "李四" in content and "后端工程师" in content
    assert PHONE not in content  # masked in the group
    assert (await Offer.get(id=answer["id"])).status == "sent"
    assert transport.status.state == "connected" and aibot.connects == 1


async def stored(platform: str, count: int) -> bool:
    return await InboundEvent.filter(platform=platform).count() >= count
