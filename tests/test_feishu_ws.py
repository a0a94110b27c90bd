"""Feishu's long connection end to end: lark-oapi's own ws.Client in the bot's thread,
against a loopback stand-in speaking Feishu's protocol (tests/standins/feishu_ws.py) on
the same origin as the open-API stand-in the bot replies through."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.storage.models import InboundEvent
from bot.transports.feishu_ws.transport import FeishuLongConnection
from tests.helpers import drain
from tests.standins.feishu import FeishuSender, FeishuStandin
from tests.standins.feishu_ws import FeishuWsStandin
from tests.test_feishu_offer import make_offer, offer_status, to
from tests.test_feishu_webhook import buttons, stored


def ws_config(standin: FeishuStandin, **overrides):
    return {
        "enabled": True,
        "connection": "websocket",
        "app_id": standin.app_id,
        "app_secret": standin.app_secret,
        "api_base_url": standin.url,
        "hr_chat_id": "oc_hr",
        **overrides,
    }


@pytest.fixture
async def feishu():
    http = FeishuStandin()
    ws = FeishuWsStandin(http)  # mounted on the same origin
    async with http:
        yield ws


@pytest.fixture
def sender(feishu) -> FeishuSender:
    # Over the long connection nothing is signed or encrypted: the payload as it is.
    return FeishuSender(app_id=feishu.http.app_id, verification_token="", encrypt_key="")


@pytest.fixture
async def frt(feishu, settings_factory, make_runtime):
    return await make_runtime(settings_factory(feishu=ws_config(feishu.http)))


@pytest.fixture
async def fclient(frt):
    async with TestClient(TestServer(build_app(frt))) as c:
        yield c


@pytest.fixture
async def conn(frt, feishu):
    transport = FeishuLongConnection(frt)
    frt.transports = [transport]
    await transport.start()
    await feishu.connected()
    await until(lambda: transport.status.state == "connected")
    yield transport
    await transport.stop()


async def until(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def readyz(client) -> dict:
    return await (await client.get("/readyz")).json()


# -- messages and clicks ------------------------------------------------------------------


async def test_message_reaches_the_worker_and_the_bot_replies(fclient, frt, feishu, conn, sender):
    offer = await make_offer(fclient, feishu_open_id="ou_zhang")
    await drain(frt)
    assert [m["msg_type"] for m in to(feishu.http, "ou_zhang")] == ["interactive"]

    message_id = await feishu.send(sender.message(open_id="ou_zhang", text="1"))
    ack = await feishu.ack(message_id)
    assert ack.code == 200 and ack.answer is None
    await drain(frt)
    assert await offer_status(fclient, offer["id"]) == "accepted"
    assert len(to(feishu.http, "ou_zhang")) >= 2, "the candidate is answered in Feishu"
    body = await readyz(fclient)
    assert body["connections"]["feishu_ws"]["state"] == "connected"
    assert "feishu_ws" not in body.get("problems", {})


async def test_card_click_is_answered_in_its_ack_frame(fclient, frt, feishu, conn, sender):
    await make_offer(fclient, feishu_open_id="ou_zhang")
    await drain(frt)
    [card] = to(feishu.http, "ou_zhang")
    accept = buttons(card["content"])[0]["behaviors"][0]["value"]
    click = sender.click(open_id="ou_zhang", value=accept, message_id=card["message_id"])
    for n in (1, 2):  # delivered twice: answered twice, stored once
        frame_id = await feishu.send(click, message_id="frame-click")
        ack = await feishu.ack(frame_id, count=n)
        assert ack.code == 200
        assert ack.answer["toast"]["type"] == "success"
        assert ack.answer["toast"]["content"].startswith("已收到：接受")
        assert ack.answer["card"]["type"] == "raw"
        assert buttons(ack.answer["card"]["data"]) == []  # nothing left to click twice
        assert "biz_rt" in ack.headers
    [inbound] = [p for p in await stored() if p["kind"] == "action"]
    assert inbound["action"]["action"] == "accept"


async def test_ack_is_written_only_after_the_store_committed(frt, feishu, conn, sender):
    seen: list[bool] = []
    here = contextvars.copy_context()  # the stand-in's handler has no database context

    async def row_exists() -> bool:
        return await InboundEvent.filter(platform="feishu", event_id="om_durable").exists()

    async def check(ack) -> None:  # runs when the ack frame arrives, before it is recorded
        seen.append(await asyncio.get_running_loop().create_task(row_exists(), context=here))

    feishu.on_ack = check
    payload = sender.message(open_id="ou_cand1", text="你好", message_id="om_durable")
    await feishu.ack(await feishu.send(payload))
    assert seen == [True]


async def test_stored_event_redelivered_after_a_restart_is_processed_once(
    fclient, frt, feishu, conn, sender
):
    await make_offer(fclient, feishu_open_id="ou_zhang")
    await drain(frt)
    payload = sender.message(open_id="ou_zhang", text="1", message_id="om_restart")
    await feishu.ack(await feishu.send(payload))  # stored and acked; no worker ran yet
    await conn.stop()  # SIGTERM's path: the socket closes, the thread ends
    assert conn.status.state == "stopped"
    await feishu.wait(lambda: feishu._ws is None)

    again = FeishuLongConnection(frt)
    frt.transports = [again]
    await again.start()
    try:
        await feishu.connected(2)
        # Feishu did not see the first ack (as far as it knows): it delivers again.
        await feishu.ack(await feishu.send(payload))
        await drain(frt)
    finally:
        await again.stop()
    assert [p["event_id"] for p in await stored()] == ["om_restart"]
    replies = [
        json.dumps(m["content"], ensure_ascii=False) for m in to(feishu.http, "ou_zhang")[1:]
    ]
    assert replies and len(replies) == len(set(replies)), "each answer sent once"
    assert sum("欢迎加入" in r for r in replies) == 1


async def test_duplicates_are_processed_once(frt, feishu, conn, sender):
    first = sender.message(open_id="ou_cand1", text="在吗", message_id="om_dup", event_id="ev-a")
    renamed = sender.message(open_id="ou_cand1", text="在吗", message_id="om_dup", event_id="ev-b")
    for payload in (first, first, renamed):
        ack = await feishu.ack(await feishu.send(payload))
        assert ack.code == 200
    assert [p["event_id"] for p in await stored()] == ["om_dup"]
    await drain(frt)
    assert len(to(feishu.http, "ou_cand1")) <= 1  # at most one answer, never three


async def test_fragmented_payload_is_reassembled(frt, feishu, conn, sender):
    payload = sender.message(open_id="ou_cand1", text="分片" * 200, message_id="om_parts")
    ack = await feishu.ack(await feishu.send(payload, fragments=3))
    assert ack.code == 200
    [inbound] = await stored()
    assert inbound["text"] == "分片" * 200


# -- the connection's life ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def inbound_table_locked(db_url: str):
    """Another client holds the inbound table: the bot's store waits until it lets go."""
    table = InboundEvent._meta.db_table
    if db_url.startswith("sqlite://"):
        other = sqlite3.connect(db_url.removeprefix("sqlite://"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    import asyncpg

    other = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
    tx = other.transaction()
    await tx.start()
    await other.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
    try:
        yield
    finally:
        await tx.rollback()
        await other.close()


async def test_stop_acks_the_frame_being_stored_before_closing(frt, feishu, conn, sender, db_url):
    arrived = sample("offerbot_feishu_ws_frames_total", type="event")
    payload = sender.message(open_id="ou_cand1", text="最后一条", message_id="om_last")
    async with inbound_table_locked(db_url):
        frame_id = await feishu.send(payload)
        await until(lambda: sample("offerbot_feishu_ws_frames_total", type="event") > arrived)
        stopping = asyncio.create_task(conn.stop())  # SIGTERM while the frame is stored
        await asyncio.sleep(0.3)
    await stopping
    ack = await feishu.ack(frame_id)  # written before the socket closed
    assert ack.code == 200
    assert [p["event_id"] for p in await stored()] == ["om_last"]
    assert conn.status.state == "stopped"


async def test_dropped_connection_comes_back_and_readyz_shows_it(
    fclient, frt, feishu, conn, sender
):
    feishu.busy = True  # the endpoint answers "system busy" until the test has looked
    calls = feishu.endpoint_calls
    await feishu.drop()
    await feishu.wait(lambda: feishu.endpoint_calls > calls)
    await until(lambda: conn.status.state == "reconnecting")
    state = (await readyz(fclient))["connections"]["feishu_ws"]
    assert state["state"] == "reconnecting" and "next try" in state["detail"]

    feishu.busy = False
    await feishu.connected(2)
    await until(lambda: conn.status.state == "connected")
    assert (await readyz(fclient))["connections"]["feishu_ws"]["state"] == "connected"
    ack = await feishu.ack(await feishu.send(sender.message(open_id="ou_cand1", text="回来了")))
    assert ack.code == 200
    metrics = await (await fclient.get("/metrics")).text()
    assert 'offerbot_feishu_ws_reconnects_total{reason="dropped"}' in metrics
    assert "offerbot_feishu_ws_ack_seconds_count" in metrics


async def test_watchdog_reconnects_when_feishu_stops_answering_pings(frt, feishu, conn):
    feishu.mute_pongs = True
    pings = feishu.pings
    await feishu.wait(lambda: feishu.pings >= pings + 2)  # pings go unanswered
    await until(lambda: conn.status.state == "reconnecting")
    assert "no frame from Feishu" in conn.status.detail
    feishu.mute_pongs = False
    await feishu.connected(2)
    await until(lambda: conn.status.state == "connected")


async def test_refused_credentials_show_on_readyz_without_a_tight_loop(
    feishu, settings_factory, make_runtime
):
    rt = await make_runtime(settings_factory(feishu=ws_config(feishu.http, app_secret="wrong")))
    transport = FeishuLongConnection(rt)
    rt.transports = [transport]
    await transport.start()
    try:
        await until(lambda: transport.status.state == "auth_refused")
        async with TestClient(TestServer(build_app(rt))) as client:
            await until(lambda: "feishu_ws" in rt.problems)
            body = await readyz(client)
        state = body["connections"]["feishu_ws"]
        assert state["state"] == "auth_refused"
        assert "10014" in state["detail"] and "wrong" not in state["detail"]
        assert "凭证与基础信息" in body["problems"]["feishu_ws"]
        assert transport.retry_in >= 60  # the next try is a minute away, not a loop
        await asyncio.sleep(0.5)
        assert feishu.endpoint_calls == 1
        assert feishu.connections == 0
    finally:
        await transport.stop()
    assert transport.status.state == "stopped"


async def test_too_many_connections_waits_long_and_says_why(frt, feishu):
    feishu.full = True
    transport = FeishuLongConnection(frt)
    await transport.start()
    try:
        await until(lambda: transport.status.state == "reconnecting")
        assert "too many long connections" in transport.status.detail
        assert transport.retry_in >= 60
        assert feishu.endpoint_calls == 1 and feishu.connections == 0
    finally:
        await transport.stop()


# -- hostile frames ------------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    from bot.metrics import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_hostile_frames_are_ignored_and_the_connection_stays(frt, feishu, conn, sender):
    ignored_before = sample("offerbot_feishu_ws_acks_total", outcome="ignored")
    malformed_before = sample("offerbot_feishu_ws_frames_total", type="malformed")
    await feishu.send_raw(b"\x00\xffnot protobuf at all")
    await feishu.send_raw("a text frame")
    await feishu.send_raw(b"")
    odd = sender.message(open_id="ou_cand1", text="x", message_id="om_odd")
    unknown = await feishu.send(odd, type_="surprise")
    old_card = await feishu.send(odd, type_="card")  # the SDK drops old-style card frames
    bad_json = await feishu.send(b"{not json", message_id="frame-bad-json")
    not_object = await feishu.send(b"[1, 2, 3]", message_id="frame-array")
    not_utf8 = await feishu.send(b"\xff\xfe\xfd", message_id="frame-binary")
    malformed = await feishu.send(
        {
            "schema": "2.0",
            "header": {"event_type": "im.message.receive_v1"},
            "event": {"sender": "nobody"},
        }
    )
    huge = sender.message(open_id="ou_cand1", text="大" * 400_000, message_id="om_huge")
    oversized = await feishu.send(huge, fragments=3)  # each piece fits; the whole does not
    bad_seq = feishu.frame(b"{}", message_id="frame-seq", sum_=2, seq=5)
    await feishu.send_raw(bad_seq.SerializeToString())
    for frame_id in (bad_json, not_object, malformed, oversized):
        assert (await feishu.ack(frame_id)).code == 200  # acknowledged: a retry is no better

    good = await feishu.send(sender.message(open_id="ou_cand1", text="正常", message_id="om_ok"))
    assert (await feishu.ack(good)).code == 200
    for frame_id in (unknown, old_card, not_utf8, "frame-seq"):
        assert frame_id not in feishu.acks
    assert [p["event_id"] for p in await stored()] == ["om_ok"]
    assert feishu.connections == 1 and conn.status.state == "connected"
    assert sample("offerbot_feishu_ws_acks_total", outcome="ignored") == ignored_before + 4
    assert sample("offerbot_feishu_ws_frames_total", type="malformed") == malformed_before + 3


async def test_a_frame_over_the_socket_limit_costs_a_reconnect_not_the_connection(
    frt, feishu, conn, sender
):
    # The SDK's WebSocket library refuses messages over 1 MiB by closing the socket: the
    # transport opens it again as for any drop, and later events flow.
    await feishu.send_raw(b"\x00" * (1024 * 1024 + 1))
    await feishu.connected(2)
    await until(lambda: conn.status.state == "connected")
    good = sender.message(open_id="ou_cand1", text="还在", message_id="om_after_big")
    assert (await feishu.ack(await feishu.send(good))).code == 200
    assert [p["event_id"] for p in await stored()] == ["om_after_big"]


async def test_store_failure_acks_an_error_so_feishu_retries(frt, feishu, conn, sender):
    from tortoise import Tortoise

    payload = sender.message(open_id="ou_cand1", text="稍后", message_id="om_retry")
    table = InboundEvent._meta.db_table
    conn_db = Tortoise.get_connection("default")
    await conn_db.execute_script(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        ack = await feishu.ack(await feishu.send(payload))
    finally:
        await conn_db.execute_script(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')
    assert ack.code == 500
    assert (await feishu.ack(await feishu.send(payload))).code == 200  # the retry is stored
    assert [p["event_id"] for p in await stored()] == ["om_retry"]


def test_lark_oapi_is_imported_only_in_websocket_mode():
    # Its import takes seconds and binds a module-level event loop: the webhook mode,
    # and every module until the connection's thread starts, must not import it.
    import subprocess
    import sys

    code = (
        "import sys, bot.app, bot.cli, bot.doctor, bot.transports.registry, "
        "bot.transports.feishu_ws.transport; "
        "sys.exit(1 if 'lark_oapi' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


async def test_serve_holds_the_connection_and_sigterm_closes_it(tmp_path, feishu, sender):
    """A real `offerbot serve` process: it connects, stores and acks an event, and on
    SIGTERM acks what it holds, closes the socket and exits 0."""
    import os
    import signal
    import sys

    data = tmp_path / "srv"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[storage]\ndata_dir = "{data}"\n[database]\nurl = "sqlite://{data}/x.sqlite3"\n'
        "[server]\nport = 0\n"
        f'[feishu]\nenabled = true\nconnection = "websocket"\napp_id = "{feishu.http.app_id}"\n'
        f'app_secret = "{feishu.http.app_secret}"\napi_base_url = "{feishu.http.url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--config", str(cfg),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await feishu.connected(timeout=90)  # a busy box imports lark-oapi slowly
        ack = await feishu.ack(await feishu.send(sender.message(open_id="ou_x", text="你好")))
        assert ack.code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 40)
        except TimeoutError:
            proc.kill()
            raise
    errors = (await proc.stderr.read()).decode()
    assert code == 0, errors[-2000:]
    assert "Traceback" not in errors, errors[-2000:]
    await feishu.wait(lambda: feishu._ws is None)  # the bot closed the socket
