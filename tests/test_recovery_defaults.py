"""Work a SIGKILLed worker held runs again well under a minute with the default config
(docs/redis.md, "What happens on a crash"): a claimed row's lease (`stale_after`) runs out
and the next sweep queues it; a job taken but never claimed has its arq marker dropped
after `unclaimed_after`, at a sweep too. The fault tests prove the mechanism with short
timers (tests/faults/test_dead_worker.py, test_crash.py); this pins the defaults."""

from types import SimpleNamespace

from bot.config import Settings
from bot.sweeper import unclaimed_after

LIMIT = 60.0  # seconds: "well under a minute"


def test_default_recovery_of_a_dead_workers_work_is_under_a_minute():
    settings = Settings()
    w = settings.worker
    sweep = w.sweep_interval.total_seconds()
    claimed = w.stale_after.total_seconds() + sweep
    unclaimed = unclaimed_after(SimpleNamespace(settings=settings)) + sweep
    assert claimed <= 40 < LIMIT, claimed
    assert unclaimed <= 20 < LIMIT, unclaimed
    # A lease shorter than a job's own network waits would hand live work to a second worker.
    longest_wait = settings.delivery.http_timeout + settings.intents.llm_timeout
    assert w.stale_after > longest_wait
