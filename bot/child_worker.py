"""`offerbot serve`'s worker, in a child process of its own (docs/operations.md, "One
process or two"): acknowledging a callback never waits behind processing, and the
second core does the work. `[worker] serve_workers` children (1 by default), each
numbered and supervised on its own, like `offerbot worker` processes side by side.

- The parent starts the child once its embedded Redis answers, and hands it the very
  settings it runs with (pickled, over the child's stdin), the Redis URL pinned to the
  parent's server: the parent owns and supervises the embedded Redis, the child only
  uses it.
- The child's stdin stays open for its whole life: end of file means the parent is
  gone (even by SIGKILL), and the child stops as on SIGTERM; while it is still starting
  (seconds on a busy host), a thread watches the pipe and ends it at once.
- The parent restarts a child that died, with backoff; on shutdown it sends SIGTERM and
  waits for the running jobs to finish (up to `job_timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
import threading
import time

from bot.config import Settings

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0  # seconds before the first restart; doubles up to BACKOFF_MAX
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a child that ran this long starts the backoff afresh
KILL_GRACE = 5.0  # seconds past job_timeout before a child that will not stop is killed
_HEADER = struct.Struct(">I")


def child_settings(settings: Settings, redis_socket: str | None) -> Settings:
    """The parent's settings, on the parent's Redis: an embedded server is reached by its
    socket, so the child never starts (or stops) one of its own."""
    if settings.redis.url or not redis_socket:
        return settings
    return settings.replace(redis={"url": f"unix://{redis_socket}"})


class ChildWorker:
    """The parent's side: start, supervise and stop one worker child (number `n`, from
    1: it names the child's metrics file and its log lines)."""

    def __init__(self, settings: Settings, *, n: int = 1, verbose: bool = False):
        self.settings = settings
        self.n = n
        self.verbose = verbose
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._stopping = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise())

    async def _spawn(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.child_worker",
            stdin=asyncio.subprocess.PIPE,
            # A session of its own: a Ctrl-C in the terminal reaches the parent only, which
            # stops the child in order (a child stopped behind its back would be restarted).
            start_new_session=True,
        )
        blob = pickle.dumps({"settings": self.settings, "verbose": self.verbose, "n": self.n})
        assert proc.stdin is not None
        proc.stdin.write(_HEADER.pack(len(blob)) + blob)  # the pipe stays open: see above
        await proc.stdin.drain()
        self.starts += 1
        log.info("worker child %s started (pid %s)", self.n, proc.pid)
        return proc

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST
        while not self._stopping:
            started = time.monotonic()
            try:
                self.proc = await self._spawn()
            except (OSError, ConnectionError) as exc:
                log.error("could not start worker child %s: %s", self.n, exc)
            else:
                code = await self.proc.wait()
                if self._stopping:
                    return
                log.error("worker child %s (pid %s) exited with %s", self.n, self.proc.pid, code)
            if time.monotonic() - started > HEALTHY_AFTER:
                delay = BACKOFF_FIRST
            log.info("restarting the worker child %s in %.0f s", self.n, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def stop(self) -> None:
        """SIGTERM, then wait for the child's jobs to finish (up to job_timeout)."""
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            timeout = self.settings.worker.job_timeout.total_seconds() + KILL_GRACE
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                log.error("worker child %s did not stop within %.0f s: killed", self.n, timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()


# -- the child's side ---------------------------------------------------------------------


def _read_exactly(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise SystemExit("offerbot worker child: the parent went away before start")
        data += chunk
    return data


def _exit_if_orphaned_while_starting(fd: int, started: threading.Event) -> None:
    """Start-up (the runtime, the reply model: seconds, more on a busy host) runs before
    the event loop watches the parent's pipe; a parent that dies meanwhile ends the child
    at once, with no job taken yet. The parent never writes again: read returns at EOF."""

    def wait() -> None:
        with contextlib.suppress(OSError):
            os.read(fd, 1)
        if not started.is_set():
            os._exit(0)

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()


def main() -> int:
    fd = sys.stdin.fileno()
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    given = pickle.loads(_read_exactly(fd, size))  # noqa: S301 - our own parent, over a pipe
    started = threading.Event()
    _exit_if_orphaned_while_starting(fd, started)  # before the imports: they take a while

    from bot import logs
    from bot.lifecycle import lower_priority, run_service
    from bot.worker import run_worker

    settings: Settings = given["settings"]
    logs.setup(settings.server.log_format, given["verbose"])
    if settings.database.url.startswith("sqlite"):
        from bot.storage import sqlite_engine

        # Each turn waits while the parent stores callbacks (bot/storage/sqlite_engine.py).
        sqlite_engine.GIVES_WAY = sqlite_engine.turnstile(settings.data_dir)
    from bot import metrics

    out = metrics.worker_file(settings.data_dir, given.get("n", 1))  # a file per child

    def on_started() -> None:
        started.set()
        # [worker] serve_worker_nice: below the server's CPU priority once started, if
        # set (docs/performance.md, "The default serve").
        lower_priority(settings.worker.serve_worker_nice)

    return run_service(run_worker(settings, parent_pipe=fd, metrics_to=out, on_started=on_started))


if __name__ == "__main__":
    raise SystemExit(main())
