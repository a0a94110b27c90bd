"""`offerbot serve` as a newcomer runs it: no config file, embedded SQLite + Redis under
./data; answers /healthz and /readyz; SIGTERM exits cleanly. Also `offerbot worker`."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 2) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read().decode()[-2000:]}")
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up")


@pytest.fixture
def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}
    return env


def test_serve_with_no_config_uses_embedded_defaults(tmp_path, clean_env):
    port = free_port()
    env = {**clean_env, "OFFERBOT_SERVER_PORT": str(port), "OFFERBOT_SERVER_HOST": "127.0.0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        # The first /readyz builds the reply reader (the model and jieba: ~2 s when idle).
        status, body = get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert status == 200, body
        kids = psutil.Process(proc.pid).children()  # its embedded Redis and its worker child
        deadline = time.monotonic() + 30
        while not any("bot.child_worker" in " ".join(k.cmdline()) for k in kids):
            assert time.monotonic() < deadline, [k.cmdline() for k in kids]
            time.sleep(0.2)
            kids = psutil.Process(proc.pid).children()
        assert (tmp_path / "data" / "offerbot.sqlite3").exists()
        assert (tmp_path / "data" / "redis.db").exists() or any(
            p.name.startswith("redis") for p in (tmp_path / "data").iterdir()
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read().decode()[-2000:]
    _, alive = psutil.wait_procs(kids, timeout=5)
    assert not alive, [k.cmdline() for k in alive]  # no orphan: neither Redis nor the worker


def test_migrate_command_and_worker_start(tmp_path, clean_env):
    cfg = tmp_path / "config.toml"
    data = tmp_path / "d"
    cfg.write_text(
        f'[storage]\ndata_dir = "{data}"\n[database]\nurl = "sqlite://{data}/x.sqlite3"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate", "--config", str(cfg)],
        capture_output=True, text=True, env=clean_env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "database is up to date" in out.stdout
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker", "--config", str(cfg)],
        env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # up once its embedded Redis runs (a busy box is slow)
        while not (data / "redis.pid").exists() and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.1)
        time.sleep(1)
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=40)
    assert code == 0
    assert Path(data, "redis.db").exists() or any(
        p.name.startswith("redis") for p in data.iterdir()
    )
