"""Prometheus metrics (served at /metrics)."""

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "offerbot_http_requests_total", "HTTP requests", ["route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "offerbot_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
JOBS = Counter("offerbot_jobs_total", "Worker jobs", ["job", "outcome"], registry=REGISTRY)
DELIVERIES = Counter(
    "offerbot_deliveries_total", "Outbox deliveries", ["platform", "outcome"], registry=REGISTRY
)
INBOUND = Counter(
    "offerbot_inbound_total",
    "Verified callbacks stored",
    ["platform", "outcome"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge("offerbot_outbox_backlog", "Outbox rows waiting", registry=REGISTRY)
TIMERS_DUE = Gauge("offerbot_timers_due", "Timers due and not yet fired", registry=REGISTRY)

# WeCom 智能机器人 long connection (bot/transports/wecom_bot)
WECOM_BOT_CONNECTS = Counter(
    "offerbot_wecom_bot_connects_total",
    "AI-bot connection attempts by outcome (ok, refused, failed)",
    ["outcome"],
    registry=REGISTRY,
)
WECOM_BOT_RECONNECTS = Counter(
    "offerbot_wecom_bot_reconnects_total",
    "AI-bot reconnects after a lost connection",
    registry=REGISTRY,
)
WECOM_BOT_FRAMES = Counter(
    "offerbot_wecom_bot_frames_total",
    "AI-bot callback frames received, by what became of them (stored, duplicate, ignored)",
    ["outcome"],
    registry=REGISTRY,
)
WECOM_BOT_ACKS = Counter(
    "offerbot_wecom_bot_acks_total",
    "WeCom's answers (回执) to the frames the bot sent, by outcome (ok, error, timeout)",
    ["outcome"],
    registry=REGISTRY,
)
WECOM_BOT_ACK_SECONDS = Histogram(
    "offerbot_wecom_bot_ack_seconds",
    "From sending a frame to WeCom's answer",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)

# Feishu's long connection (bot/transports/feishu_ws, docs/long-connections.md).
FEISHU_WS_CONNECTS = Counter(
    "offerbot_feishu_ws_connects_total", "Long connections opened", registry=REGISTRY
)
FEISHU_WS_RECONNECTS = Counter(
    "offerbot_feishu_ws_reconnects_total",
    "Long connections lost and tried again",
    ["reason"],  # dropped, silent (watchdog), refused, failed
    registry=REGISTRY,
)
FEISHU_WS_FRAMES = Counter(
    "offerbot_feishu_ws_frames_total",
    "Frames received on the long connection",
    ["type"],  # ping, pong, event, card, other, malformed
    registry=REGISTRY,
)
FEISHU_WS_ACKS = Counter(
    "offerbot_feishu_ws_acks_total",
    "Data frames answered",
    ["outcome"],  # accepted (stored, now or before), ignored, error (Feishu retries it)
    registry=REGISTRY,
)
FEISHU_WS_ACK_SECONDS = Histogram(
    "offerbot_feishu_ws_ack_seconds",
    "From a data frame's arrival to its acknowledgement (stored and committed)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)

# -- serve's worker children: their counters reach serve's /metrics -------------------
# Each child writes its registry to a file of its own in the data dir every few seconds
# (and when it stops); serve's /metrics adds those samples to its own (docs/operations.md).

WORKER_FILE = "worker-metrics-{n}.prom"  # n: the child's number, 1 to [worker] serve_workers
WRITE_EVERY = 5.0  # seconds


def worker_file(data_dir: Path, n: int) -> Path:
    return Path(data_dir) / WORKER_FILE.format(n=n)


def clear_worker_files(data_dir: Path) -> None:
    """A previous run's counts (any number of children, and the older single file)."""
    for old in Path(data_dir).glob("worker-metrics*.prom"):
        old.unlink(missing_ok=True)


def write_to(path: Path) -> None:
    """This process's metrics, replaced atomically (a reader never sees half a file)."""
    part = path.with_suffix(".part")
    part.write_bytes(generate_latest(REGISTRY))
    os.replace(part, path)


def _combine(kind: str, sample: str, old: float, new: float) -> float:
    if sample.endswith("_created"):
        return min(old, new)  # the earliest stamp
    if kind == "gauge":
        # The gauges are counts of the database (bot/sweeper.py) that every worker's
        # sweeper sets: the same quantity seen by each, not a share of it.
        return max(old, new)
    return old + new


class _Merged(Collector):
    """This process's families plus those read from the other processes: samples summed
    by name and labels (gauges: the highest; `_created` stamps: the earliest)."""

    def __init__(self, texts: list[str]):
        self.texts = texts

    def collect(self) -> Iterable[Metric]:
        families = {m.name: m for m in REGISTRY.collect()}
        for text in self.texts:
            for theirs in text_string_to_metric_families(text):
                mine = families.get(theirs.name)
                if mine is None:
                    families[theirs.name] = theirs
                    continue
                values: dict[tuple, Sample] = {}
                for s in [*mine.samples, *theirs.samples]:
                    key = (s.name, tuple(sorted(s.labels.items())))
                    if key in values:
                        old = values[key]
                        s = old._replace(value=_combine(mine.type, s.name, old.value, s.value))
                    values[key] = s
                mine.samples = list(values.values())
        return list(families.values())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:  # not written yet, or the child is restarting
        return ""


def exposition(worker_files: Iterable[Path] = ()) -> bytes:
    """/metrics: this process's registry, plus the worker children's files, if any."""
    texts = [t for t in map(_read, worker_files) if t]
    if not texts:
        return generate_latest(REGISTRY)
    merged = CollectorRegistry(auto_describe=False)
    merged.register(_Merged(texts))
    return generate_latest(merged)
