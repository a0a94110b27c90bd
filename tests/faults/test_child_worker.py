"""`offerbot serve` runs its worker as a child process (bot/child_worker.py): a real serve
process answers a callback through its child; SIGTERM ends both; a SIGKILLed parent's
child notices and exits; a child that died is restarted and the work goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

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


# -- [worker] serve_workers = 2: two children, each supervised on its own ---------------


async def the_children(pid: int, n: int) -> list[psutil.Process]:
    async def all_up() -> list[psutil.Process] | None:
        kids = worker_children(pid)
        return kids if len(kids) == n else None

    return await wait_for(all_up, timeout=DEADLINE)


def jobs_ok(text: str) -> float:
    """process_inbound ok in a Prometheus text (0 when not counted yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "offerbot_jobs_total" and s.labels == {
                "job": "process_inbound",
                "outcome": "ok",
            }:
                return s.value
    return 0.0


async def test_serve_workers_two_children_share_the_work(fault_env_factory):
    """`[worker] serve_workers = 2`: two children; with one job at a time each
    (`max_jobs = 1`) and the first child's send held, the second callback is processed by
    the other child; /metrics adds both children's files. SIGTERM ends both."""
    async with fault_env_factory(worker={"serve_workers": 2, "max_jobs": 1}) as env:
        data_dir = Path(env.sections["storage"]["data_dir"])
        stale = data_dir / "worker-metrics-7.prom"  # a previous run's, with more children
        stale.write_text('offerbot_jobs_total{job="process_inbound",outcome="ok"} 99.0\n')
        serve = await env.procs.serve()
        kids = await the_children(serve.pid, 2)
        assert not stale.exists()
        env.standin.hold(when="after", match=lambda b: (b or {}).get("touser") == "w1")
        assert await env.callback(serve, text_xml("w1", "你好")) == 200
        await asyncio.wait_for(env.standin.held.wait(), DEADLINE)  # one child busy with w1
        assert await env.callback(serve, text_xml("w2", "你好")) == 200
        await answered(env, "w2")  # by the other child: the first takes no second job
        env.standin.release()
        await answered(env, "w1")
        files = [data_dir / f"worker-metrics-{n}.prom" for n in (1, 2)]

        async def each_counted_one() -> bool:
            counts = [jobs_ok(f.read_text()) if f.exists() else 0.0 for f in files]
            async with aiohttp.ClientSession() as http, http.get(f"{serve.url}/metrics") as r:
                total = jobs_ok(await r.text())
            return counts == [1.0, 1.0] and total == 2.0

        await wait_for(each_counted_one, timeout=DEADLINE)

        serve.popen.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(serve.popen.wait, 40) == 0, serve.log()
        for kid in kids:
            await gone(kid, timeout=5)


async def test_serve_workers_a_dead_child_is_restarted_the_other_works_on(fault_env_factory):
    async with fault_env_factory(worker={"serve_workers": 2}) as env:
        serve = await env.procs.serve()
        first, other = await the_children(serve.pid, 2)
        os.kill(first.pid, signal.SIGKILL)
        await gone(first, timeout=10)
        assert await env.callback(serve, text_xml("w3", "你好")) == 200
        await answered(env, "w3")
        kids = await the_children(serve.pid, 2)  # the dead one replaced
        assert first.pid not in {k.pid for k in kids}
        assert other.pid in {k.pid for k in kids}  # the other one was never stopped
        assert other.is_running() and other.status() != psutil.STATUS_ZOMBIE
        assert "restarting the worker child" in serve.log(tail=20000)
        assert await env.callback(serve, text_xml("w4", "你好")) == 200
        await answered(env, "w4")


async def test_serve_workers_both_children_exit_when_serve_is_killed(fault_env_factory):
    async with fault_env_factory(worker={"serve_workers": 2}) as env:
        serve = await env.procs.serve()
        kids = await the_children(serve.pid, 2)
        serve.kill()  # SIGKILL: no shutdown code runs in the parent
        for kid in kids:
            await gone(kid, timeout=10)


async def test_serve_workers_nice_applies_to_every_child(fault_env_factory):
    async with fault_env_factory(worker={"serve_workers": 2, "serve_worker_nice": 10}) as env:
        serve = await env.procs.serve()
        kids = await the_children(serve.pid, 2)
        base = os.getpriority(os.PRIO_PROCESS, serve.pid)
        want = min(19, base + 10)

        async def both_lowered() -> bool:  # once started: it loads first, then lowers
            return all(os.getpriority(os.PRIO_PROCESS, k.pid) == want for k in kids)

        await wait_for(both_lowered, timeout=DEADLINE)
        assert os.getpriority(os.PRIO_PROCESS, serve.pid) == base


async def test_kill_with_worker_kills_every_child(fault_env_factory):
    """The fault tests' `kill_with_worker` (the whole bot at once) reaches both children."""
    async with fault_env_factory(worker={"serve_workers": 2}) as env:
        serve = await env.procs.serve()
        kids = await the_children(serve.pid, 2)
        serve.kill_with_worker()
        for kid in kids:
            await gone(kid, timeout=5)
