"""The embedded Redis under a real `offerbot serve` (no `[redis] url`: the bot runs
redis-server itself under data_dir, bot/embedded_redis.py; docs/redis.md):

- killed with SIGKILL by its PID, it is restarted on the same socket while `serve` keeps
  running; callbacks acknowledged while it was down are processed afterwards, and
  /readyz answers 503 naming Redis meanwhile;
- `serve` stopped with SIGTERM at any moment of its start-up leaves no redis-server;
- after a SIGKILL of `serve`, the next start takes the orphan over: one server, never two.

redis-server processes are counted from /proc: a redis-server working in this data dir
(Redis changes into its `dir`), whoever started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path

import pytest

from bench.procs import free_port, write_config
from bot.embedded_redis import EmbeddedRedis
from bot.storage.models import InboundEvent, Outbox
from tests.helpers import wait_for
from tests.standins.wecom import text_xml

DEADLINE = 30.0


def redis_servers(data_dir: Path) -> list[int]:
    """PIDs of the live redis-server processes started for `data_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if state == "Z" or b"redis-server" not in argv[0]:
            continue
        if Path(cwd) == data_dir.resolve():
            found.append(int(entry.name))
    return found


@contextlib.asynccontextmanager
async def embedded(fault_env_factory):
    """A fault env whose subprocesses run the embedded Redis under its data dir (the test
    process keeps the session's Redis). At the end the processes are SIGKILLed, as the
    fault env does, and the server they leave behind is stopped too."""
    async with fault_env_factory() as env:
        sections = {**env.sections, "redis": {"url": ""}}
        write_config(env.procs.config, sections)
        data_dir = Path(sections["storage"]["data_dir"])
        try:
            yield env, data_dir
        finally:
            env.procs.cleanup()
            EmbeddedRedis(data_dir).stop_if_unused()
            assert redis_servers(data_dir) == []


async def wait_gone(proc, timeout: float = 40) -> int:
    deadline = time.monotonic() + timeout
    while proc.alive():
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} did not exit:\n{proc.log()}")
        await asyncio.sleep(0.05)
    return proc.popen.returncode


async def answered(env, user: str) -> bool:
    return bool(env.standin.delivered_to(user))


async def all_processed(users: list[str]) -> bool:
    rows = [r for r in await InboundEvent.all() if r.payload.get("sender_id") in users]
    pending = await Outbox.filter(status="pending").exists()
    return len(rows) == len(users) and all(r.status == "done" for r in rows) and not pending


async def test_embedded_redis_killed_is_restarted_and_the_backlog_processed(fault_env_factory):
    async with embedded(fault_env_factory) as (env, data_dir):
        serve = await env.procs.serve()
        assert await env.callback(serve, text_xml("before", "你好")) == 200
        await wait_for(lambda: answered(env, "before"), timeout=DEADLINE)
        (pid,) = redis_servers(data_dir)

        # 1. Killed while another start holds the start lock: it stays down meanwhile.
        lock = os.open(data_dir / "redis.lock", os.O_RDWR)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            os.kill(pid, signal.SIGKILL)
            down = ["d1", "d2", "d3"]
            for user in down:
                assert await env.callback(serve, text_xml(user, "你好")) == 200  # stored
            await asyncio.sleep(1.5)  # several of the supervisor's checks
            assert redis_servers(data_dir) == []
            status, body = await env.readyz(serve)
            assert status == 503 and body["checks"]["redis"] != "ok", body
            assert body["checks"]["database"] == "ok"
            assert not any(env.standin.delivered_to(u) for u in down)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)
        await wait_for(lambda: all_processed(["before", *down]), timeout=DEADLINE)
        (restarted,) = redis_servers(data_dir)
        assert restarted != pid

        # 2. Killed again, plainly: the supervisor restarts it within seconds.
        os.kill(restarted, signal.SIGKILL)
        again = ["a1", "a2"]
        for user in again:
            assert await env.callback(serve, text_xml(user, "你好")) in (200, 500, 503)
        for user in again:  # a callback refused meanwhile is sent again by the platform
            if not any(r.payload.get("sender_id") == user for r in await InboundEvent.all()):
                assert await env.callback(serve, text_xml(user, "你好")) == 200
        await wait_for(lambda: all_processed(["before", *down, *again]), timeout=DEADLINE)
        for user in ["before", *down, *again]:
            assert len(env.standin.delivered_to(user)) == 1, user  # each answered once
        assert serve.alive(), "serve was restarted"
        assert len(redis_servers(data_dir)) == 1
        assert (await env.readyz(serve))[0] == 200


@pytest.mark.parametrize("when", ["after 0.3 s", "as soon as redis-server runs"])
async def test_sigterm_during_start_up_leaves_no_redis_server(fault_env_factory, when):
    async with embedded(fault_env_factory) as (env, data_dir):
        serve = env.procs.start("serve", port=free_port())
        if when == "after 0.3 s":
            await asyncio.sleep(0.3)
        else:
            deadline = time.monotonic() + DEADLINE
            while not redis_servers(data_dir):
                assert time.monotonic() < deadline and serve.alive(), serve.log()
                await asyncio.sleep(0.005)
        serve.popen.send_signal(signal.SIGTERM)
        await wait_gone(serve)
        await asyncio.sleep(0.2)
        assert redis_servers(data_dir) == [], serve.log()


async def test_after_a_sigkill_the_next_start_takes_the_orphan_over(fault_env_factory):
    async with embedded(fault_env_factory) as (env, data_dir):
        first = await env.procs.serve()
        (orphan,) = redis_servers(data_dir)
        first.kill()
        assert redis_servers(data_dir) == [orphan]  # nobody could stop it
        second = await env.procs.serve()
        assert len(redis_servers(data_dir)) == 1
        assert (await env.readyz(second))[0] == 200
        assert await env.callback(second, text_xml("u1", "你好")) == 200
        await wait_for(lambda: answered(env, "u1"), timeout=DEADLINE)
        assert len(redis_servers(data_dir)) == 1
        second.popen.send_signal(signal.SIGTERM)
        assert await wait_gone(second) == 0
        assert redis_servers(data_dir) == []
