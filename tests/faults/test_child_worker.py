"""`offerbot serve` runs its worker as a child process (bot/child_worker.py): a real serve
process answers a callback through its child; SIGTERM ends both; a SIGKILLed parent's
child notices and exits; a child that died is restarted and the work goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import psutil

from bot.storage.models import InboundEvent
from tests.helpers import wait_for
from tests.standins.wecom import text_xml

DEADLINE = 30.0  # generous: two cores shared with other test runs


def worker_children(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return [k for k in kids if "bot.child_worker" in " ".join(k.cmdline())]


async def the_child(pid: int) -> psutil.Process:
    async def one() -> psutil.Process | None:
        kids = worker_children(pid)
        return kids[0] if len(kids) == 1 else None

    return await wait_for(one, timeout=DEADLINE)


async def gone(proc: psutil.Process, timeout: float) -> None:
    async def ended() -> bool:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped by its parent
        except psutil.NoSuchProcess:
            return True

    await wait_for(ended, timeout=timeout)


async def answered(env, user: str, n: int = 1) -> None:
    async def check() -> bool:
        rows = await InboundEvent.filter(status="done").values_list("payload", flat=True)
        done = sum(1 for p in rows if p.get("sender_id") == user)
        return done >= n and len(env.standin.delivered_to(user)) >= n

    await wait_for(check, timeout=DEADLINE)


async def test_serve_processes_a_callback_in_its_child_and_sigterm_ends_both(fault_env):
    env = fault_env
    serve = await env.procs.serve()
    child = await the_child(serve.pid)
    assert child.pid != serve.pid
    assert await env.callback(serve, text_xml("c1", "你好")) == 200
    await answered(env, "c1")

    async def counted_by_serve() -> bool:  # the child's counters on serve's /metrics
        async with aiohttp.ClientSession() as http, http.get(f"{serve.url}/metrics") as r:
            text = await r.text()
        return 'offerbot_jobs_total{job="process_inbound",outcome="ok"} 1.0' in text

    await wait_for(counted_by_serve, timeout=DEADLINE)

    serve.popen.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(serve.popen.wait, 40) == 0, serve.log()
    await gone(child, timeout=5)
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE


async def test_child_exits_when_serve_is_killed(fault_env):
    env = fault_env
    serve = await env.procs.serve()
    child = await the_child(serve.pid)
    serve.kill()  # SIGKILL: no shutdown code runs in the parent
    started = time.monotonic()
    await gone(child, timeout=10)
    print(f"child gone {time.monotonic() - started:.1f} s after its parent")


async def test_a_dead_child_is_restarted_and_work_goes_on(fault_env):
    env = fault_env
    serve = await env.procs.serve()
    first = await the_child(serve.pid)
    os.kill(first.pid, signal.SIGKILL)
    await gone(first, timeout=10)

    async def replaced() -> psutil.Process | None:
        kids = [k for k in worker_children(serve.pid) if k.pid != first.pid]
        return kids[0] if kids else None

    second = await wait_for(replaced, timeout=DEADLINE)
    assert second.pid != first.pid
    assert await env.callback(serve, text_xml("c2", "你好")) == 200
    await answered(env, "c2")
    assert "restarting the worker child" in serve.log(tail=20000)


async def test_serve_worker_same_process_runs_no_child(fault_env_factory):
    """`[worker] serve_worker = "same_process"`: the worker on serve's own event loop."""
    async with fault_env_factory(worker={"serve_worker": "same_process"}) as env:
        serve = await env.procs.serve()
        assert await env.callback(serve, text_xml("c3", "你好")) == 200
        await answered(env, "c3")
        assert worker_children(serve.pid) == []
        serve.popen.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(serve.popen.wait, 40) == 0, serve.log()


async def test_serve_worker_nice_lowers_the_childs_priority(fault_env_factory):
    """`[worker] serve_worker_nice = 10`: the child, every thread of it, runs 10 below
    serve's CPU priority (niceness +10); serve itself keeps its own."""
    async with fault_env_factory(worker={"serve_worker_nice": 10}) as env:
        serve = await env.procs.serve()
        child = await the_child(serve.pid)
        assert await env.callback(serve, text_xml("c4", "你好")) == 200
        await answered(env, "c4")  # the child has started its threads (SQLite, executor)
        base = os.getpriority(os.PRIO_PROCESS, serve.pid)
        want = min(19, base + 10)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == want
        threads = [t.id for t in child.threads()]
        assert len(threads) > 1
        assert {os.getpriority(os.PRIO_PROCESS, tid) for tid in threads} == {want}
        assert os.getpriority(os.PRIO_PROCESS, serve.pid) == base


async def test_by_default_the_child_keeps_serve_priority(fault_env):
    env = fault_env
    serve = await env.procs.serve()
    child = await the_child(serve.pid)
    assert await env.callback(serve, text_xml("c5", "你好")) == 200
    await answered(env, "c5")
    base = os.getpriority(os.PRIO_PROCESS, serve.pid)
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == base
