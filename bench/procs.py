"""The processes under test: `offerbot serve` with a temp config, and the bare baseline app.

Each runs as its own subprocess on a free loopback port, logs to a file (a full pipe would
stall it), and is stopped by its own pid — gracefully (SIGTERM) or, to prove durability,
abruptly (SIGKILL). The embedded Redis that `serve` starts (a redis-server that outlives
a SIGKILLed bot) is stopped by the pid it recorded, so no run leaves a process behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL nobody listens on (ingest never calls the platform)."""
    return f"http://127.0.0.1:{free_port()}"


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, ints, bools, lists are TOML


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    lines = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _clean_env() -> dict[str, str]:
    # OFFERBOT_* variables of the caller's shell must not override the temp config.
    return {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@dataclass
class Process:
    """A subprocess listening on `port`; stopped by pid."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    health_path: str = "/"
    root: Path = ROOT  # the source tree it runs from (another one: a baseline of the code)
    proc: subprocess.Popen | None = None
    _log: object = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Process:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = _clean_env()
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root)
        self.proc = subprocess.Popen(
            self.argv, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if _get(self.url + self.health_path) == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop(kill=True)
        raise RuntimeError(f"{self.name} did not come up:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss_mb(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / 2**20

    def stop(self, *, kill: bool = False, timeout: float = 40) -> int | None:
        """SIGTERM (drain) or SIGKILL (crash); returns the exit code."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


def serve(
    config: Path, port: int, log_path: Path, *, worker: bool = True, root: Path = ROOT
) -> Process:
    """`offerbot serve`; `root`: run another source tree's (e.g. `git archive` of an
    earlier commit), to measure it beside this one in the same run."""
    argv = [sys.executable, "-m", "bot.cli", "serve", "--config", str(config)]
    if not worker:
        argv.append("--no-worker")
    return Process("offerbot serve", argv, port, log_path, health_path="/readyz", root=root)


def bare(port: int, log_path: Path) -> Process:
    argv = [sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)]
    return Process("bare app", argv, port, log_path)


def stop_embedded_redis(data_dir: Path) -> None:
    """Stop the embedded redis-server of `data_dir` (it outlives a SIGKILLed parent),
    unless a live process still uses it: bot/embedded_redis.py."""
    from bot.embedded_redis import EmbeddedRedis

    if (data_dir / "redis.pid").exists():
        EmbeddedRedis(data_dir).stop_if_unused()


@dataclass
class RssSampler:
    """Peak resident memory of a process, sampled in a thread while a load runs."""

    pid: int
    interval: float = 0.1
    peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        process = psutil.Process(self.pid)

        def sample() -> None:
            while not self._stop.is_set():
                try:
                    self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
                except psutil.NoSuchProcess:
                    return
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
