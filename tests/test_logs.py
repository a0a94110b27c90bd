"""`[server] log_format = "json"`: every line `offerbot serve` writes is one JSON object, and
the lines written while a request is handled carry the id its answer carries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from tests.test_serve import free_port, wait_until_up

TOKEN = "log-test-token-0123456789"


def call(url: str, method: str = "GET", body: dict | None = None, rid: str | None = None):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if rid:
        headers["X-Request-Id"] = rid
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, resp.headers.get("X-Request-Id"), resp.read()


def test_json_lines_with_request_ids(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")},
        "OFFERBOT_SERVER_PORT": str(port),
        "OFFERBOT_SERVER_HOST": "127.0.0.1",
        "OFFERBOT_SERVER_LOG_FORMAT": "json",
        "OFFERBOT_API_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--no-worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/healthz", proc)
        status, generated, _ = call(base + "/healthz")
        assert status == 200 and generated and len(generated) == 16
        status, _, body = call(
            base + "/api/v1/candidates", "POST", {"name": "日志测试", "phone": "13800138000"}
        )
        assert status == 201
        cid = json.loads(body)["id"]
        status, echoed, _ = call(base + f"/api/v1/candidates/{cid}", "DELETE", rid="erase-req-42")
        assert status == 204 and echoed == "erase-req-42"
        # a hostile id is not echoed into the logs: a fresh one is made
        _, fresh, _ = call(base + "/healthz", rid="bad id; with spaces")
        assert fresh and " " not in fresh
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    entries = [json.loads(ln) for ln in lines]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    erased = [e for e in entries if "erased through the API" in e["message"]]
    assert erased and erased[0]["request_id"] == "erase-req-42"
    assert not any("13800138000" in ln or "日志测试" in ln for ln in lines)
    assert any("listening" in e["message"] and "request_id" not in e for e in entries)
