"""WeCom 智能机器人 over its long connection, against a loopback stand-in (tests/standins/).

The transport subscribes, stores callbacks through the ingest path, answers HR commands
through the connection (a respond frame on the callback's req_id), updates a clicked
alert card, reconnects after any end of the connection, and holds the one connection a
bot may have across processes (a Redis lease). See docs/long-connections.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import Action
from bot.channels.wecom.render import encode_button_key
from bot.storage.models import Alert, Candidate, InboundEvent, Outbox
from bot.transports.registry import build_transports
from tests.helpers import drain, wait_for
from tests.standins.wecom_bot import BOT_ID, SECRET, AibotStandin

HR_CHAT = "wrHRgroup001"


@pytest.fixture
async def standin():
    s = AibotStandin()
    async with s.running():
        yield s


@pytest.fixture
def bot_settings(settings_factory, standin):
    def make(**overrides):
        section = {
            "enabled": True,
            "bot_id": BOT_ID,
            "secret": SECRET,
            "ws_url": standin.url,
            "hr_chat_id": HR_CHAT,
            "lease": "1s",
            "reconnect_delay": "50ms",
            "send_timeout": "5s",
            **overrides,
        }
        return settings_factory(wecom_bot=section)

    return make


async def start_transport(rt):
    (transport,) = build_transports(rt)
    await transport.start()
    return transport


@pytest.fixture
async def env(make_runtime, bot_settings, standin):
    rt = await make_runtime(bot_settings())
    transport = await start_transport(rt)
    await wait_for(lambda: _state(transport, "connected"))
    yield rt, transport
    await transport.stop()


async def _state(transport, state: str) -> bool:
    return transport.status.state == state


def answers(standin, cmd="aibot_respond_msg") -> list[str]:
    frames = standin.frames(cmd)
    if cmd == "aibot_respond_msg":
        return [f["body"]["stream"]["content"] for f in frames]
    return [f["body"]["markdown"]["content"] for f in frames]


async def stored(count: int):
    return await InboundEvent.filter(platform="wecom_bot").count() >= count


# -- subscribing ------------------------------------------------------------------------


async def test_subscribes_with_bot_id_and_secret_and_readyz_shows_it(env, standin):
    rt, transport = env
    assert standin.subscribes == [{"bot_id": BOT_ID, "secret": SECRET}]
    async with TestClient(TestServer(build_app(rt))) as client:
        rt.transports = [transport]
        body = await (await client.get("/readyz")).json()
    assert body["connections"]["wecom_bot"]["state"] == "connected"


async def test_wrong_secret_is_refused_once_with_a_clear_problem(
    make_runtime, bot_settings, standin
):
    rt = await make_runtime(bot_settings(secret="wrong-secret"))
    transport = await start_transport(rt)
    try:
        await wait_for(lambda: _state(transport, "auth_refused"))
        assert "errcode 40001" in transport.status.detail
        rt.transports = [transport]
        async with TestClient(TestServer(build_app(rt))) as client:
            body = await (await client.get("/readyz")).json()
        assert body["connections"]["wecom_bot"]["state"] == "auth_refused"
        assert "wecom_bot.secret" in body["problems"]["wecom_bot"]
        assert SECRET not in json.dumps(body) and "wrong-secret" not in json.dumps(body)
        await asyncio.sleep(0.5)  # ten times the reconnect delay: no retry loop
        assert len(standin.subscribes) == 1
    finally:
        await transport.stop()


# -- HR commands through the connection --------------------------------------------------


async def test_group_command_after_mention_is_answered_on_its_req_id(env, standin):
    rt, _ = env
    frame = await standin.push(standin.message("@offerbot /help", chatid=HR_CHAT))
    await wait_for(lambda: stored(1))
    await drain(rt)
    (respond,) = standin.frames("aibot_respond_msg")
    assert respond["headers"]["req_id"] == frame["headers"]["req_id"]
    assert "/pending" in respond["body"]["stream"]["content"]
    assert respond["body"]["stream"]["finish"] is True
    event = await InboundEvent.get(platform="wecom_bot")
    assert event.payload["text"] == "/help" and event.payload["chat_type"] == "group"


async def test_private_command_from_an_admin_by_their_wecom_userid(env, standin):
    rt, _ = env
    await standin.push(standin.message("/pending", userid="hr_zhang"))
    await wait_for(lambda: stored(1))
    await drain(rt)
    (content,) = answers(standin)
    assert "抱歉" not in content


async def test_non_admin_is_refused_politely(env, standin):
    rt, _ = env
    await standin.push(standin.message("/pending", userid="intern_li"))
    await wait_for(lambda: stored(1))
    await drain(rt)
    (content,) = answers(standin)
    assert "仅限 HR 管理员" in content


async def test_duplicate_delivery_has_one_effect(env, standin):
    rt, _ = env
    await standin.push(standin.message("/help", msgid="same-msg", req_id="r1"))
    await standin.push(standin.message("/help", msgid="same-msg", req_id="r2"))
    await wait_for(lambda: stored(1))
    await asyncio.sleep(0.2)  # the second frame went through the store path too
    await drain(rt)
    assert await InboundEvent.filter(platform="wecom_bot").count() == 1
    assert len(standin.frames("aibot_respond_msg")) == 1


async def test_late_answer_is_pushed_to_the_chat_instead(env, standin):
    rt, _ = env
    standin.fail_next["aibot_respond_msg"] = [(846605, "req_id expired")]
    await standin.push(standin.message("/help", chatid=HR_CHAT))
    await wait_for(lambda: stored(1))
    await drain(rt)
    (push,) = standin.frames("aibot_send_msg")
    assert push["body"]["chatid"] == HR_CHAT and "/pending" in push["body"]["markdown"]["content"]
    assert not standin.frames("aibot_respond_msg")


async def test_hostile_frames_are_dropped_and_the_connection_lives_on(env, standin):
    rt, transport = env
    await standin.send_raw("not json")
    await standin.send_raw("[1, 2]")
    await standin.send_raw(json.dumps({"cmd": "aibot_msg_callback", "headers": [], "body": 1}))
    await standin.push({"cmd": "aibot_msg_callback", "headers": {"req_id": "x"}, "body": {}})
    no_sender = standin.message("/help")
    del no_sender["body"]["from"]
    await standin.push(no_sender)
    group_without_chat = standin.message("/help", chatid="x")
    del group_without_chat["body"]["chatid"]
    await standin.push(group_without_chat)
    long_id = standin.message("/help", userid="u" * 300)
    await standin.push(long_id)
    await standin.push(standin.message("/help"))
    await wait_for(lambda: stored(1))
    await asyncio.sleep(0.2)
    assert await InboundEvent.filter(platform="wecom_bot").count() == 1
    assert transport.status.state == "connected" and standin.connects == 1
    await drain(rt)
    assert len(standin.frames("aibot_respond_msg")) == 1  # what was not stored gets no answer


# -- HR alerts as cards, clicks -----------------------------------------------------------


async def _candidate() -> Candidate:
    return await Candidate.create(name="王小明", phone="13800138000")


async def test_alert_goes_to_the_hr_chat_as_a_card_with_claim_and_resolve(env, standin):
    from tortoise.transactions import in_transaction

    from bot.flows.alerts import raise_alert

    rt, _ = env
    candidate = await _candidate()
    fx = rt.fx()
    async with in_transaction():
        alert = await raise_alert(fx, "silent", candidate=candidate)
    await fx.flush()
    await drain(rt)
    cards = [f for f in standin.frames("aibot_send_msg") if f["body"]["msgtype"] == "template_card"]
    (card,) = cards
    assert card["body"]["chatid"] == HR_CHAT
    body = card["body"]["template_card"]
    assert body["card_type"] == "button_interaction"
    assert [b["text"] for b in body["button_list"]][:2] == ["认领", "已处理"]
    assert json.loads(body["button_list"][0]["key"]) == {"action": "claim", "alert_id": alert.id}
    assert "13800138000" not in json.dumps(card, ensure_ascii=False)
    row = await Outbox.get(alert_id=alert.id, platform="wecom_bot")
    assert row.status == "sent"


async def test_click_claims_the_alert_and_updates_the_card(env, standin):
    rt, _ = env
    candidate = await _candidate()
    alert = await Alert.create(kind="silent", candidate_id=candidate.id, data={})
    key = encode_button_key(
        Action(key="claim", label="认领", command="", value={"alert_id": alert.id})
    )
    frame = await standin.push(standin.click(key, "task-1", chatid=HR_CHAT))
    await wait_for(lambda: stored(1))
    await drain(rt)
    await alert.refresh_from_db()
    assert alert.status == "claimed" and alert.claimed_by == "wecom:hr_zhang"
    (update,) = standin.frames("aibot_respond_update_msg")
    assert update["headers"]["req_id"] == frame["headers"]["req_id"]
    card = update["body"]["template_card"]
    assert card["task_id"] == "task-1"
    assert card["main_title"]["title"] == "⏰ 候选人未答复"  # the alert card's own title
    assert "hr_zhang" in card["sub_title_text"] and f"#{alert.id}" in card["sub_title_text"]
    assert [b["text"] for b in card["button_list"]] == ["已处理"]
    # the same click delivered again changes nothing
    await standin.push(standin.click(key, "task-1", chatid=HR_CHAT))
    resolve = encode_button_key(
        Action(key="resolve", label="已处理", command="", value={"alert_id": alert.id})
    )
    await standin.push(standin.click(resolve, "task-1", chatid=HR_CHAT))
    await wait_for(lambda: stored(3))
    await drain(rt)
    await alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == "wecom:hr_zhang"
    last = standin.frames("aibot_respond_update_msg")[-1]["body"]["template_card"]
    assert last["card_type"] == "text_notice" and last["task_id"] == "task-1"


# -- reconnecting -------------------------------------------------------------------------


async def test_reconnects_after_the_connection_drops(env, standin):
    rt, transport = env
    await standin.drop()
    await standin.wait(lambda: len(standin.live) == 1 and standin.connects == 2)
    await wait_for(lambda: _state(transport, "connected"))
    await standin.push(standin.message("/help"))
    await wait_for(lambda: stored(1))


@pytest.mark.parametrize("code", [1000, 1001])
async def test_reconnects_after_a_normal_close(env, standin, code):
    rt, transport = env
    await standin.close(code)
    await standin.wait(lambda: len(standin.live) == 1 and standin.connects == 2)
    await wait_for(lambda: _state(transport, "connected"))


async def test_a_worker_without_a_holder_retries_later(make_runtime, bot_settings, standin):
    """No process holds the connection: the send is not lost, it waits in the outbox."""
    from bot.channels.base import Outgoing, Recipient, TransientError

    rt = await make_runtime(bot_settings(send_timeout="100ms"))
    channel = rt.channels["wecom_bot"]
    with pytest.raises(TransientError):
        await channel.send(Recipient("hr_group", "hr_group"), Outgoing(text="hi"), "k1")
    transport = await start_transport(rt)
    try:
        await wait_for(lambda: _state(transport, "connected"))
        # the request the worker gave up on was dropped unsent; the retry goes once
        await channel.send(Recipient("hr_group", "hr_group"), Outgoing(text="hi"), "k1")
        await channel.send(Recipient("hr_group", "hr_group"), Outgoing(text="hi"), "k1")
        assert len(standin.frames("aibot_send_msg")) == 1
    finally:
        await transport.stop()


# -- one connection per bot ---------------------------------------------------------------


async def test_two_processes_one_connection_and_a_clean_stop_hands_over(
    make_runtime, bot_settings, standin
):
    settings = bot_settings()
    first, second = await make_runtime(settings), await make_runtime(settings)
    a, b = await start_transport(first), await start_transport(second)
    try:
        await wait_for(
            lambda: _pair_state(a, b, {"connected", "holder_elsewhere"}),
        )
        assert standin.connects == 1
        holder, standby = (a, b) if a.status.state == "connected" else (b, a)
        await holder.stop()  # gives the lease back
        await wait_for(lambda: _state(standby, "connected"))
        assert standin.connects == 2
    finally:
        await a.stop()
        await b.stop()


async def _pair_state(a, b, states: set[str]) -> bool:
    return {a.status.state, b.status.state} == states


def _holder_config(tmp_path, settings, standin) -> str:
    data = tmp_path / "holder-data"
    path = tmp_path / "holder.toml"
    path.write_text(
        f"""
[server]
host = "127.0.0.1"
port = 0
[database]
url = "sqlite://{tmp_path}/holder.sqlite3"
[redis]
url = "{settings.redis.url}"
[storage]
data_dir = "{data}"
[wecom_bot]
enabled = true
bot_id = "{BOT_ID}"
secret = "{SECRET}"
ws_url = "{standin.url}"
hr_chat_id = "{HR_CHAT}"
lease = "1s"
reconnect_delay = "50ms"
""",
        encoding="utf-8",
    )
    return str(path)


@asynccontextmanager
async def holder_and_standby(tmp_path, rt, settings, standin):
    """A real `offerbot serve` (this checkout's code) holding the connection, and a standby
    transport in this process that found it held; both ended on the way out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}
    root = str(Path(__file__).resolve().parent.parent)  # this checkout's code, not another
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    config = _holder_config(tmp_path, settings, standin)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--no-worker", "--config", config],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    standby = None
    try:
        await standin.wait(lambda: standin.live or proc.poll() is not None, timeout=90)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        standby = await start_transport(rt)
        await wait_for(lambda: _state(standby, "holder_elsewhere"))
        yield proc, standby
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # were it frozen
            proc.kill()
            proc.wait(timeout=10)
        if standby is not None:
            await standby.stop()


async def test_a_killed_holder_is_replaced_by_a_standby(
    tmp_path, make_runtime, bot_settings, standin
):
    """The holder is a real `offerbot serve` process, killed with SIGKILL: it never gives
    the lease back, and the standby takes over once the lease runs out."""
    settings = bot_settings()
    rt = await make_runtime(settings)
    async with holder_and_standby(tmp_path, rt, settings, standin) as (proc, standby):
        assert standin.connects == 1
        proc.kill()
        proc.wait(timeout=10)
        await wait_for(lambda: _state(standby, "connected"), timeout=30)
        assert standin.connects == 2
        await standin.push(standin.message("/help"))
        await wait_for(lambda: stored(1))


async def test_an_oversized_frame_ends_the_connection_and_it_comes_back(env, standin):
    rt, transport = env
    await standin.send_raw("x" * (1024 * 1024 + 10))
    await standin.wait(lambda: len(standin.live) == 1 and standin.connects == 2)
    await wait_for(lambda: _state(transport, "connected"))
    assert await InboundEvent.filter(platform="wecom_bot").count() == 0


async def test_replaced_by_another_connection_steps_back(env, standin):
    rt, transport = env
    frame = standin.click("{}", "t")
    frame["body"]["event"] = {"eventtype": "disconnected_event"}
    await standin.push(frame)
    await wait_for(lambda: _state(transport, "holder_elsewhere"))
    assert "disconnected_event" in transport.status.detail
    await asyncio.sleep(0.3)  # no fight over the bot: it does not reconnect at once
    assert standin.connects == 1 and not standin.live


async def test_a_lost_lease_closes_the_connection(env, standin):
    from bot.channels.wecom_bot.relay import keys

    rt, transport = env
    await rt.redis.set(keys(BOT_ID)["lease"], "another-process", px=60_000)
    await wait_for(lambda: _state(transport, "holder_elsewhere"))
    await standin.wait(lambda: not standin.live)
    assert standin.connects == 1


async def test_a_group_chat_id_is_logged_so_operators_can_find_it(env, standin, caplog):
    import logging

    rt, _ = env
    with caplog.at_level(logging.INFO, logger="bot.transports.wecom_bot.transport"):
        await standin.push(standin.message("@offerbot hi", chatid="wrNewGroup"))
        await standin.push(standin.message("@offerbot hi again", chatid="wrNewGroup"))
        await wait_for(lambda: stored(2))
    lines = [r.getMessage() for r in caplog.records if "group chat" in r.getMessage()]
    assert lines == ["wecom_bot: a message from group chat wrNewGroup"]


async def test_missed_heartbeats_end_the_connection_and_it_comes_back(
    make_runtime, bot_settings, standin
):
    rt = await make_runtime(bot_settings())
    (transport,) = build_transports(rt)
    transport.heartbeat = 0.05
    await transport.start()
    try:
        await wait_for(lambda: _state(transport, "connected"))
        standin.answer_pings = False
        await standin.wait(lambda: standin.connects == 2 and len(standin.live) == 1)
        standin.answer_pings = True
        await wait_for(lambda: _state(transport, "connected"))
    finally:
        await transport.stop()


async def test_a_worker_in_another_process_sends_through_the_holder(
    make_runtime, bot_settings, standin
):
    settings = bot_settings()
    holder_rt, worker_rt = await make_runtime(settings), await make_runtime(settings)
    holder = await start_transport(holder_rt)
    try:
        await wait_for(lambda: _state(holder, "connected"))
        frame = await standin.push(standin.message("/help", chatid=HR_CHAT))
        await wait_for(lambda: stored(1))
        await drain(worker_rt)  # this runtime has no connection: it hands the frames over
        (respond,) = standin.frames("aibot_respond_msg")
        assert respond["headers"]["req_id"] == frame["headers"]["req_id"]
        row = await Outbox.get(platform="wecom_bot")
        assert row.status == "sent"
    finally:
        await holder.stop()


# -- the lease is renewed while the connection lives, whatever the event loop does -------


class Contender:
    """Another process's attempts to take the lease (SET NX, as `Lease.acquire`), every
    50 ms from a thread with its own Redis connection: it keeps trying while the test's
    event loop is blocked."""

    def __init__(self, rt):
        import threading

        from bot.channels.wecom_bot.relay import keys
        from bot.transports.wecom_bot.lease import sync_client

        self.client = sync_client(rt.redis, timeout=1.0)
        self.key = keys(BOT_ID)["lease"]
        self.tries = self.taken = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.tries += 1
            if self.client.set(self.key, "contender", nx=True, px=60_000):
                self.taken += 1
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.close()


def block_the_event_loop(seconds: float) -> None:
    """A handler that never yields (CPU-bound work, a blocking call): nothing else on
    this event loop runs meanwhile."""
    import time

    time.sleep(seconds)


async def test_the_holder_keeps_its_lease_past_its_length_even_while_its_loop_is_busy(
    make_runtime, bot_settings, standin
):
    """lease = 1s: held for 3.5 leases with a standby polling, then for 3 leases with the
    holder's event loop blocked (its asyncio tasks cannot run) while another process tries
    to take the lease 20 times a second. Nobody takes it, and the connection is the same."""
    settings = bot_settings()
    holder_rt, standby_rt = await make_runtime(settings), await make_runtime(settings)
    holder = await start_transport(holder_rt)
    standby = None
    try:
        await wait_for(lambda: _state(holder, "connected"))
        standby = await start_transport(standby_rt)
        await wait_for(lambda: _state(standby, "holder_elsewhere"))
        await asyncio.sleep(3.5)
        assert (holder.status.state, standby.status.state) == ("connected", "holder_elsewhere")
        with Contender(holder_rt) as contender:
            block_the_event_loop(3.0)
            await asyncio.sleep(0.2)
        assert contender.tries >= 20 and contender.taken == 0
        assert await holder_rt.redis.get(contender.key) == holder.lease.token.encode()
        await asyncio.sleep(0.1)
        assert holder.status.state == "connected" and standin.connects == 1
        assert len(standin.live) == 1
    finally:
        if standby is not None:
            await standby.stop()
        await holder.stop()


async def test_a_holder_whose_loop_is_wedged_lets_the_lease_go(make_runtime, bot_settings, standin):
    """The renewal thread wants a sign of life from the event loop: blocked for over
    STALL_LEASES leases, the holder is treated like a dead one (the lease runs out and
    another process takes it); when its loop runs again it closes its connection."""
    from bot.transports.wecom_bot.lease import STALL_LEASES

    rt = await make_runtime(bot_settings())
    holder = await start_transport(rt)
    try:
        await wait_for(lambda: _state(holder, "connected"))
        with Contender(rt) as contender:
            block_the_event_loop(STALL_LEASES + 2.5)  # lease = 1s
        assert contender.taken == 1
        await wait_for(lambda: _state(holder, "holder_elsewhere"))
        await standin.wait(lambda: not standin.live)
        assert standin.connects == 1
    finally:
        await holder.stop()


async def test_a_holder_process_that_stops_renewing_loses_the_connection(
    tmp_path, make_runtime, bot_settings, standin
):
    """A real `offerbot serve` holds the connection for 3.5 leases (lease = 1s) with a
    standby polling; then it is frozen (SIGSTOP: no thread of it runs, so nothing renews)
    and the standby takes over; thawed (SIGCONT), it finds the lease gone and closes its
    own connection."""
    settings = bot_settings()
    rt = await make_runtime(settings)
    async with holder_and_standby(tmp_path, rt, settings, standin) as (proc, standby):
        await asyncio.sleep(3.5)
        assert standby.status.state == "holder_elsewhere"
        assert standin.connects == 1 and len(standin.live) == 1
        proc.send_signal(signal.SIGSTOP)
        await wait_for(lambda: _state(standby, "connected"), timeout=30)
        assert standin.connects == 2 and len(standin.live) == 2  # the frozen one's socket
        proc.send_signal(signal.SIGCONT)
        await standin.wait(lambda: len(standin.live) == 1, timeout=30)
        assert standby.status.state == "connected" and proc.poll() is None
        await standin.push(standin.message("/help"))
        await wait_for(lambda: stored(1))
