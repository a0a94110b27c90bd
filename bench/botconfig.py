"""The temp config of the bot under test: a set-up, a port, and where the platforms are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.backends import Backend
from bench.payloads import FEISHU, WECOM
from bench.procs import write_config
from bench.standin import FEISHU_HR_CHAT, WECOM_HR_CHAT

API_TOKEN = "bench-api-token"


def sections(
    be: Backend,
    port: int,
    *,
    platforms: tuple[str, ...] = ("wecom", "feishu"),
    api_base_url: str,
    sweep_interval: str = "30s",
    serve_workers: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Both platforms' test credentials; `api_base_url` is a stand-in or a closed port.
    `serve_workers`: `[worker] serve_workers` (unset: the default, one child)."""
    out: dict[str, dict[str, Any]] = {
        "server": {"host": "127.0.0.1", "port": port},
        **be.sections(),
        "api": {"token": API_TOKEN},
        "company": {"quiet_hours": []},  # a benchmark at night must not wait for morning
        "worker": {"sweep_interval": sweep_interval}
        | ({} if serve_workers is None else {"serve_workers": serve_workers}),
        "playground": {"enabled": False},
    }
    if "wecom" in platforms:
        out["wecom"] = {
            "enabled": True,
            **WECOM,
            "api_base_url": api_base_url,
            # An app group chat, not the group robot: the robot is paced at 20 posts a
            # minute (WeCom's limit), which would make latency a matter of that limit.
            "hr_chat_id": WECOM_HR_CHAT,
        }
    if "feishu" in platforms:
        out["feishu"] = {
            "enabled": True,
            **FEISHU,
            "api_base_url": api_base_url,
            "hr_chat_id": FEISHU_HR_CHAT,
        }
    return out


def write(path: Path, be: Backend, port: int, **kw: Any) -> Path:
    return write_config(path, sections(be, port, **kw))
