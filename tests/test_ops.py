"""Health, readiness and metrics endpoints."""

from bot.handlers import ops  # noqa: F401 - imported for coverage of route wiring


async def test_healthz(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_readyz_checks_database_and_redis(client):
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_reports_redis_down(client, rt):
    await rt.redis.aclose()
    rt.redis = None
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["checks"]["redis"].startswith("error")


async def test_metrics_exposes_prometheus_text(client):
    await client.get("/healthz")
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert "offerbot_http_requests_total" in text
    assert 'route="/healthz"' in text


def _values(text: str) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_metrics_adds_every_worker_childs_file(tmp_path):
    """serve's /metrics with `[worker] serve_workers` children: counters and histograms
    summed over serve and every child's file, the database gauges the highest (each
    child's sweeper counts the same rows), a missing file skipped; one file as before."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    from bot import metrics

    def child_file(n: int, jobs: int, backlog: int, seconds: list[float]):
        reg = CollectorRegistry()
        c = Counter("offerbot_jobs", "Worker jobs", ["job", "outcome"], registry=reg)
        c.labels("process_inbound", "ok").inc(jobs)
        Gauge("offerbot_outbox_backlog", "Outbox rows waiting", registry=reg).set(backlog)
        h = Histogram("offerbot_child_seconds", "x", buckets=(0.1, 1), registry=reg)
        for v in seconds:
            h.observe(v)
        path = metrics.worker_file(tmp_path, n)
        path.write_bytes(generate_latest(reg))
        return path

    base = _values(metrics.exposition([]).decode())
    one = child_file(1, 3, 5, [0.05])
    two = child_file(2, 4, 7, [0.5, 2])
    jobs = ("offerbot_jobs_total", (("job", "process_inbound"), ("outcome", "ok")))
    backlog = ("offerbot_outbox_backlog", ())
    alone = _values(metrics.exposition([one]).decode())
    assert alone[jobs] == base.get(jobs, 0) + 3
    assert alone[backlog] == max(base[backlog], 5)
    both = _values(metrics.exposition([one, two, tmp_path / "worker-metrics-3.prom"]).decode())
    assert both[jobs] == base.get(jobs, 0) + 7
    assert both[backlog] == max(base[backlog], 7)
    assert both[("offerbot_child_seconds_count", ())] == 3
    assert both[("offerbot_child_seconds_bucket", (("le", "0.1"),))] == 1
    assert both[("offerbot_child_seconds_bucket", (("le", "1.0"),))] == 2
    assert both[("offerbot_child_seconds_sum", ())] == 2.55
    metrics.clear_worker_files(tmp_path)
    assert list(tmp_path.glob("*.prom")) == []
