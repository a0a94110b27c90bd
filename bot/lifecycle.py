"""How `serve`, `worker` and `serve`'s worker child run their event loop: a SIGTERM during
start-up ends the process at once, and the embedded Redis is left whatever way it ends
(docs/redis.md)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys


class _StoppedDuringStartUp(SystemExit):
    pass


log = logging.getLogger(__name__)


def run_service(main) -> int:
    """Run `serve` or `worker`. A SIGTERM before the event loop's own handler is in place
    (during start-up) ends the process through an exception, and whatever way it ends,
    the embedded Redis it started or joined is left (stopped if nobody else uses it):
    bot/embedded_redis.py, docs/redis.md."""
    from bot.queue import stop_embedded_redis

    def early_stop(signum, frame) -> None:
        raise _StoppedDuringStartUp(0)

    previous = signal.signal(signal.SIGTERM, early_stop)
    aborted = False
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
    except _StoppedDuringStartUp:
        aborted = True
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up runs to its end
        stop_embedded_redis()
        signal.signal(signal.SIGTERM, previous)
    if aborted:
        # Start-up was cut short: database clients opened so far were never closed, and
        # their threads would keep the interpreter alive. Nothing is half-written (every
        # write is a transaction), so leave now.
        logging.getLogger(__name__).info("stopped during start-up")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def watch_parent(fd: int, stop: asyncio.Event) -> None:
    """Stop the worker when the parent's end of the pipe closes (the parent died)."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(fd)
            log.warning("the serve process is gone: the worker child stops")
            stop.set()

    loop.add_reader(fd, readable)


def lower_priority(by: int) -> None:
    """Add `by` to the niceness of every thread of this process (Linux keeps one per
    thread; threads started later inherit the caller's). Capped at 19 by the kernel."""
    if by <= 0:
        return
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: the niceness is the process's
        os.nice(by)
        return
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
        except ProcessLookupError:  # the thread ended meanwhile
            pass
