"""The embedded Redis (bot/embedded_redis.py) as `offerbot serve`, `offerbot worker` and
this test suite start it: a start returns only once the server answers PING, however
slowly it comes up, or fails with a clear error; one server per data dir.

The stand-in servers below are small scripts named `fake-redis-server` that speak just
enough of the protocol (PING) and come up the slow ways a real one can: socket bound but
not listening yet (connections refused), then answering LOADING.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
import redis

from bot.embedded_redis import EmbeddedRedis, EmbeddedRedisError, ping

STANDIN = """
import socket, sys, time
args = sys.argv[1:]
opt = {args[i]: args[i + 1] for i in range(0, len(args) - 1, 2)}
mode = {mode!r}
if mode == "exit":
    open(opt["--logfile"], "a").write("FATAL CONFIG FILE ERROR (stand-in)\\n")
    sys.exit(1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(opt["--unixsocket"])  # the file exists from here on, but nobody listens yet
if mode == "never":
    time.sleep(60)
time.sleep(0.5)
s.listen(8)
loading = 2
while True:
    c, _ = s.accept()
    c.recv(64)
    c.sendall(b"-LOADING loading the dataset\\r\\n" if loading else b"+PONG\\r\\n")
    loading = max(loading - 1, 0)
    c.close()
"""


def standin(tmp_path: Path, mode: str) -> str:
    path = tmp_path / "fake-redis-server"
    path.write_text(f"#!{sys.executable}\n" + STANDIN.replace("{mode!r}", repr(mode)))
    path.chmod(0o700)
    return str(path)


def test_start_waits_for_a_server_that_refuses_then_is_loading(tmp_path):
    server = EmbeddedRedis(tmp_path / "data", executable=standin(tmp_path, "slow"))
    started = time.monotonic()
    try:
        sock = server.start()
        assert ping(sock) == "ok"  # answered once ready, not refused on the first try
        assert time.monotonic() - started >= 0.5
    finally:
        server.stop()
    assert server.pid() is None


def test_a_server_that_exits_fails_the_start_at_once_with_its_log(tmp_path):
    server = EmbeddedRedis(tmp_path / "data", executable=standin(tmp_path, "exit"))
    started = time.monotonic()
    with pytest.raises(EmbeddedRedisError, match="FATAL CONFIG FILE ERROR"):
        server.start()
    assert time.monotonic() - started < 5
    server.stop()


def test_a_server_that_never_answers_fails_the_start_within_its_timeout(tmp_path):
    server = EmbeddedRedis(
        tmp_path / "data", executable=standin(tmp_path, "never"), start_timeout=1
    )
    started = time.monotonic()
    with pytest.raises(EmbeddedRedisError, match="did not answer .* within 1 s"):
        server.start()
    assert time.monotonic() - started < 5
    assert server.pid() is None  # the hung process was killed
    server.stop()


def test_thirty_starts_in_a_row_each_answer_the_first_command(tmp_path):
    """CI must pass every time: 30 starts and stops of the real server on one data dir,
    each start followed at once by a command without any retry."""
    data_dir = tmp_path / "data"
    pids = set()
    for _ in range(30):
        server = EmbeddedRedis(data_dir)
        sock = server.start()
        client = redis.Redis(unix_socket_path=sock, retry_on_timeout=False)
        try:
            assert client.set("k", "v") and client.get("k") == b"v"
        finally:
            client.close()
        pids.add(server.pid())
        server.stop()
        assert not Path(sock).exists()
    assert len(pids) == 30 and None not in pids
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def test_a_second_user_joins_and_the_last_one_out_stops_it(tmp_path):
    first, second = EmbeddedRedis(tmp_path / "d"), EmbeddedRedis(tmp_path / "d")
    sock = first.start()
    assert second.start() == sock and second.pid() == first.pid()
    pid = first.pid()
    first.stop()
    assert ping(sock) == "ok"  # the second one still uses it
    second.stop()
    assert ping(sock) != "ok" and not _running(pid)


def test_files_are_the_owners_only(tmp_path):
    server = EmbeddedRedis(tmp_path / "d")
    server.start()
    try:
        for path in (tmp_path / "d").iterdir():
            assert path.stat().st_mode & 0o077 == 0, path
    finally:
        server.stop()


def test_a_long_data_dir_gets_a_short_socket_of_its_own(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    server = EmbeddedRedis(deep)
    assert len(server.socket_file) < 100
    assert EmbeddedRedis(deep).socket_file == server.socket_file  # same path every time
    sock = server.start()
    try:
        assert ping(sock) == "ok"
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
    finally:
        server.stop()


def _running(pid: int | None) -> bool:
    return bool(pid) and Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


assert os.name == "posix"  # unix sockets and flock
