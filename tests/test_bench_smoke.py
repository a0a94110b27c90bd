"""Keeps the benchmark harness from rotting (no timing here: see bench/README.md).

The quick ingest path for real, on a tiny count: `offerbot serve` as a subprocess on a
fresh SQLite + embedded Redis set-up, encrypted and signed WeCom and Feishu callbacks
from bench/payloads.py, the bare app beside it; then the server is SIGKILLed and every
acknowledged callback must have its row, and no forged one may.
"""

from __future__ import annotations

from bench import e2e, feishu_ws, ingest, ingest_ab, reply_cost, report, run_all, timers  # noqa: F401 - they must import
from bench.ingest import Load, run_backend
from bench.payloads import builders


async def test_quick_ingest_stores_every_acknowledged_callback(tmp_path):
    loads = (Load("rate", 40, 0.5), Load("full", 4, 0.5))
    [result] = [await run_backend("sqlite", tmp_path, loads, history=20)]

    d = result["durability"]
    assert d["acknowledged"] > 0
    assert d["acknowledged_missing"] == 0
    assert d["rows_in_database"] == d["acknowledged"]  # nothing else, nothing twice
    assert d["duplicates"] == 0
    assert d["forged_refused"] == d["forged_sent"] > 0
    assert d["forged_stored"] == 0
    for row in result["rows"]:
        assert row["offerbot"]["errors"] == 0, row
        assert row["offerbot"]["ok"] > 0 and row["bare"]["ok"] > 0, row
    assert {row["platform"] for row in result["rows"]} == {"wecom", "feishu"}
    assert "| wecom | 40 req/s |" in ingest.markdown([result])


async def test_default_mode_ingest_stores_every_acknowledged_callback(tmp_path):
    """`bench.ingest --default-mode`: serve with its worker child, answering through the
    stand-in, each process frozen while the other is measured; durable after SIGKILL."""
    loads = (Load("full", 4, 0.5),)
    result = await run_backend("sqlite", tmp_path, loads, ("wecom",), history=20, worker=True)

    d = result["durability"]
    assert d["acknowledged"] > 0
    assert d["acknowledged_missing"] == 0
    assert d["rows_in_database"] == d["acknowledged"]
    assert d["forged_stored"] == 0
    [row] = result["rows"]
    assert row["offerbot"]["errors"] == 0 and row["bare"]["ok"] > 0, row
    assert "default serve" in result["label"]


def test_payloads_carry_unique_ids_and_a_signature():
    for builder in builders("http://127.0.0.1:1").values():
        batch = builder.batch(20, users=3)
        assert len({cb.event_id for cb in batch}) == 20
        method, url, headers, body = batch[0].request
        assert method == "POST" and body
        assert "msg_signature=" in url or "X-Lark-Signature" in headers


async def test_reply_cost_runs_every_conversation_through_the_worker(tmp_path):
    result = await reply_cost.run_backend("sqlite", tmp_path, 3)
    # 3 one at a time + 3 at once: each hesitant reply opened one alert and HR got it
    assert result["alerts"] == result["hr_messages_sent"] == 6
    one = result["one_at_a_time"]
    assert one["statements"] > 0 and one["jobs"] >= 1
    assert "| SQLite + embedded Redis |" in reply_cost.markdown([result])
