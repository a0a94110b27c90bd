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
