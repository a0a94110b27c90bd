"""Configuration: TOML file + environment → one immutable `Settings`.

Every key is documented in docs/configuration.md and config.example.toml
(tests/test_docs_config.py). Unknown keys are errors (a typo must not be silently ignored), and
every problem is reported as one line naming the key.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from bot.vocab import CONCERNS

DEFAULT_CHECKLIST = (
    "id_card_front",
    "id_card_back",
    "diploma",
    "degree_certificate",
    "resignation_certificate",
    "bank_card",
    "health_report",
    "photo",
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """`90s`, `30m`, `24h`, `3d` (also `250ms`, or a bare number of seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("must not be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    raise ValueError(f"expected a duration like '90s', '30m', '24h' or '3d', got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    # loopback unless set: the playground gives HR powers (docs/privacy.md)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_kb: int = Field(1024, ge=1)
    # Off by default: a line per callback costs ~9 % of the server's CPU at full speed
    # (bench/FINDINGS.md); /metrics counts requests by route and status instead.
    access_log: bool = False
    # "text" for people, "json" (one object a line) for log collectors (docs/operations.md).
    log_format: Literal["text", "json"] = "text"
    # Pending connections the kernel queues while the loop is busy; aiohttp's 128
    # overflowed at 1 000 callbacks/s and clients retried after 1 s (bench/FINDINGS.md).
    backlog: int = Field(1024, ge=16)
    # The door's limits, in seconds (docs/hardening.md): request headers must arrive
    # within header_timeout of their first byte, a body within body_timeout; an idle
    # keep-alive socket closes after keepalive_timeout (aiohttp's default is an hour).
    header_timeout: float = Field(10, gt=0, le=3600)
    body_timeout: float = Field(60, gt=0, le=3600)
    keepalive_timeout: float = Field(75, gt=0, le=3600)
    # Sockets at once (capped below the open-file limit); more are answered 503.
    max_connections: int = Field(1000, ge=1)
    # How candidates reach this server (links in SMS / e-mail): "https://hr.example.com".
    public_url: str = ""
    # Reverse proxies whose X-Forwarded-For / -Proto are believed (IPs or CIDRs); from any
    # other peer those headers are ignored (docs/candidate-page.md).
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", v):
            raise ValueError("must be empty or an http(s) URL such as https://hr.example.com")
        return v.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
        return v


class DatabaseSettings(_Section):
    url: str = "sqlite://./data/offerbot.sqlite3"

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgres|postgresql|asyncpg)://", v):
            raise ValueError("must start with sqlite:// or postgres://")
        return v


class RedisSettings(_Section):
    url: str = ""

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v and not re.match(r"^(redis|rediss|unix)://", v):
            raise ValueError("must be empty (embedded Redis) or start with redis://")
        return v


class StorageSettings(_Section):
    data_dir: str = "./data"
    max_document_mb: float = Field(20, gt=0)


def _hhmm(v: str) -> dtime:
    try:
        h, m = v.split(":")
        return dtime(int(h), int(m))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"expected HH:MM, got {v!r}") from exc


class CompanySettings(_Section):
    name: str = "示例科技"
    timezone: str = "Asia/Shanghai"
    quiet_hours: list[str] = Field(default_factory=lambda: ["21:30", "08:30"])
    language: Literal["zh", "en"] = "zh"
    onboarding_guide: str = ""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: list[str]) -> list[str]:
        if v and len(v) != 2:
            raise ValueError('expected [] or ["HH:MM", "HH:MM"]')
        for item in v:
            _hhmm(item)
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet_window(self) -> tuple[dtime, dtime] | None:
        if not self.quiet_hours:
            return None
        return _hhmm(self.quiet_hours[0]), _hhmm(self.quiet_hours[1])


class TimerSettings(_Section):
    offer_unconfirmed_after: Duration = timedelta(hours=24)
    offer_escalate_after: Duration = timedelta(hours=48)
    offer_expires_after: Duration = timedelta(days=7)
    documents_due_before_start: Duration = timedelta(days=3)
    documents_hr_alert_before_start: Duration = timedelta(days=1)


class WorkerSettings(_Section):
    # 10 s sweeps and a 30 s lease: a dead worker's work runs again within 40 s (claimed)
    # or 20 s (taken, never claimed): docs/redis.md, "What happens on a crash".
    sweep_interval: Duration = timedelta(seconds=10)
    max_jobs: int = Field(20, ge=1)
    job_timeout: Duration = timedelta(seconds=120)
    # Work held by a process that died is picked up again after this long.
    stale_after: Duration = timedelta(seconds=30)
    # Where `offerbot serve` runs its worker: a child process (a core of its own) or, as
    # before, on the server's own event loop (docs/deployment.md, "One process or two").
    serve_worker: Literal["child", "same_process"] = "child"
    # How many worker children `serve` starts in the "child" mode, each supervised on its
    # own (docs/deployment.md, "One process or two"): more cores, more of them.
    serve_workers: int = Field(1, ge=1, le=32)
    # Added to the child's niceness once it has started (0-19): a lower CPU priority for
    # the worker than for the acknowledgements. Off by default: measured, it did not
    # help on SQLite (docs/performance.md, "The default serve").
    serve_worker_nice: int = Field(0, ge=0, le=19)


class DeliverySettings(_Section):
    max_attempts: int = Field(8, ge=1)
    backoff_base: Duration = timedelta(seconds=2)
    backoff_max: Duration = timedelta(minutes=10)
    http_timeout: Duration = timedelta(seconds=10)


class HRSettings(_Section):
    admins: list[str] = Field(default_factory=list)

    @field_validator("admins")
    @classmethod
    def _admins(cls, v: list[str]) -> list[str]:
        for item in v:
            platform, _, user = item.partition(":")
            if platform not in ("wecom", "feishu", "web") or not user:
                raise ValueError(f"{item!r} is not 'platform:user_id' (wecom, feishu or web)")
        return v


class ApiSettings(_Section):
    token: str = ""


class WecomSettings(_Section):
    enabled: bool = False
    corp_id: str = ""
    agent_id: int = 0
    secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    api_base_url: str = "https://qyapi.weixin.qq.com"
    hr_webhook_key: str = ""
    hr_chat_id: str = ""
    kf_open_kfid: str = ""

    def missing(self) -> list[str]:
        """Keys an enabled WeCom channel cannot work without."""
        need = ("corp_id", "secret", "token", "encoding_aes_key")
        out = [f"wecom.{k}" for k in need if not getattr(self, k)]
        if not self.agent_id:
            out.append("wecom.agent_id")
        if self.encoding_aes_key and len(self.encoding_aes_key) != 43:
            out.append("wecom.encoding_aes_key (must be 43 characters)")
        return out


class FeishuSettings(_Section):
    enabled: bool = False
    app_id: str = ""
    app_secret: str = ""
    verification_token: str = ""
    encrypt_key: str = ""
    api_base_url: str = "https://open.feishu.cn"
    hr_chat_id: str = ""
    # "websocket": Feishu's long connection, no public URL needed (docs/long-connections.md).
    connection: Literal["webhook", "websocket"] = "webhook"

    def missing(self) -> list[str]:
        # Over the long connection Feishu signs nothing: the token is a webhook's.
        need = ("app_id", "app_secret")
        if self.connection == "webhook":
            need += ("verification_token",)
        return [f"feishu.{k}" for k in need if not getattr(self, k)]


class WecomBotSettings(_Section):
    """WeCom 智能机器人 over its long connection: the HR side (docs/long-connections.md)."""

    enabled: bool = False
    bot_id: str = ""
    secret: str = ""
    ws_url: str = "wss://openws.work.weixin.qq.com"
    hr_chat_id: str = ""
    # One process holds the connection (a Redis lease of this length, renewed every third
    # of it from a thread, whatever its event loop is doing); a standby takes over within
    # `lease` plus a third of it after the holder dies (docs/long-connections.md).
    lease: Duration = Field(
        timedelta(seconds=15), ge=timedelta(milliseconds=300), le=timedelta(seconds=20)
    )
    reconnect_delay: Duration = Field(timedelta(seconds=1), gt=timedelta(0))  # doubles to 30 s
    # How long a worker waits for the holder to send a message before it retries later.
    send_timeout: Duration = Field(timedelta(seconds=10), gt=timedelta(0))

    def missing(self) -> list[str]:
        return [f"wecom_bot.{k}" for k in ("bot_id", "secret") if not getattr(self, k)]


class SmsSettings(_Section):
    """Aliyun 短信服务 SendSms (docs/sms-email.md)."""

    enabled: bool = False
    access_key_id: str = ""
    access_key_secret: str = ""
    sign_name: str = ""
    template_invite: str = ""
    template_reminder: str = ""
    api_base_url: str = "https://dysmsapi.aliyuncs.com"

    def missing(self) -> list[str]:
        need = ("access_key_id", "access_key_secret", "sign_name", "template_invite")
        return [f"sms.{k}" for k in need if not getattr(self, k)]


class EmailSettings(_Section):
    """SMTP for e-mail to candidates (docs/sms-email.md)."""

    enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = Field(465, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str = ""
    password: str = ""
    sender: str = "HR <hr@example.com>"
    # A CA bundle (PEM) to trust besides the system's, e.g. for a company's own mail server.
    ca_file: str = ""

    def missing(self) -> list[str]:
        return [f"email.{k}" for k in ("smtp_host", "sender") if not getattr(self, k)]


class IntentSettings(_Section):
    provider: Literal["rules", "llm"] = "rules"
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: Duration = timedelta(seconds=5)


class PlaygroundSettings(_Section):
    enabled: bool = True
    # Host names (besides loopback and server.host) the playground answers, e.g. the name
    # a reverse proxy forwards; any other Host is refused (DNS rebinding, docs/privacy.md).
    allowed_hosts: list[str] = Field(default_factory=list)


class DocumentSettings(_Section):
    checklist: list[str] = Field(default_factory=lambda: list(DEFAULT_CHECKLIST))

    @field_validator("checklist")
    @classmethod
    def _known_items(cls, v: list[str]) -> list[str]:
        # Items need names and hints in the catalogs: a typo must not reach a candidate.
        unknown = [key for key in v if key not in DEFAULT_CHECKLIST]
        if unknown:
            raise ValueError(f"unknown item(s) {unknown}; known: {', '.join(DEFAULT_CHECKLIST)}")
        return list(dict.fromkeys(v))


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    storage: StorageSettings = StorageSettings()
    company: CompanySettings = CompanySettings()
    timers: TimerSettings = TimerSettings()
    worker: WorkerSettings = WorkerSettings()
    delivery: DeliverySettings = DeliverySettings()
    hr: HRSettings = HRSettings()
    api: ApiSettings = ApiSettings()
    wecom: WecomSettings = WecomSettings()
    feishu: FeishuSettings = FeishuSettings()
    wecom_bot: WecomBotSettings = WecomBotSettings()
    sms: SmsSettings = SmsSettings()
    email: EmailSettings = EmailSettings()
    intents: IntentSettings = IntentSettings()
    playground: PlaygroundSettings = PlaygroundSettings()
    documents: DocumentSettings = DocumentSettings()
    # Per-concern talking points that replace the catalog defaults: {"salary": ["...", ...]}.
    talking_points: dict[str, list[str]] = Field(default_factory=dict)
    # Where the settings came from, for check-config (not a TOML key).
    source: str = Field("built-in defaults", exclude=True)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def enabled_platforms(self) -> list[str]:
        return [p for p in ("wecom", "feishu") if getattr(self, p).enabled]

    def replace(self, **sections: Any) -> Settings:
        """A copy with some sections replaced by dicts of changed keys (for tests/tools)."""
        data = self.model_dump()
        for name, changes in sections.items():
            if isinstance(changes, dict) and isinstance(data.get(name), dict):
                data[name] = {**data[name], **changes}
            else:
                data[name] = changes
        return Settings.model_validate({**data, "source": self.source})


class ConfigError(Exception):
    """Raised with one line per problem; each line names the key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# Secrets (and any other string key) may come from OFFERBOT_<SECTION>_<KEY>.
_ENV_PREFIX = "OFFERBOT_"


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section, model in Settings.model_fields.items():
        ann = model.annotation
        if not (isinstance(ann, type) and issubclass(ann, _Section)):
            continue
        for key in ann.model_fields:
            name = f"{_ENV_PREFIX}{section}_{key}".upper()
            if name in environ:
                out.setdefault(section, {})[key] = environ[name]
    return out


def _format_error(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling; see config.example.toml)"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{key}: {msg}"


def _cross_checks(s: Settings) -> list[str]:
    problems = []
    for platform in s.enabled_platforms:
        for key in getattr(s, platform).missing():
            problems.append(f"{key}: required when {platform}.enabled = true")
    for section in ("wecom_bot", "sms", "email"):
        if getattr(s, section).enabled:
            for key in getattr(s, section).missing():
                problems.append(f"{key}: required when {section}.enabled = true")
            if section != "wecom_bot" and not s.server.public_url:
                # SMS and e-mail carry the candidate page's link (docs/sms-email.md).
                problems.append(f"server.public_url: required when {section}.enabled = true")
    if s.intents.provider == "llm":
        for k in ("llm_base_url", "llm_model"):
            if not getattr(s.intents, k):
                problems.append(f"intents.{k}: required when intents.provider = 'llm'")
    for concern in s.talking_points:
        if concern not in CONCERNS:
            problems.append(f"talking_points.{concern}: unknown concern")
    return problems


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Resolve the config path (arg, $OFFERBOT_CONFIG, ./config.toml), parse and validate."""
    environ = dict(os.environ if environ is None else environ)
    explicit = path or environ.get("OFFERBOT_CONFIG")
    candidate = Path(explicit) if explicit else Path("config.toml")
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if candidate.exists():
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{candidate}: not valid TOML ({exc})"]) from exc
        source = str(candidate)
    elif explicit:
        raise ConfigError([f"{candidate}: config file not found"])
    for section, values in _env_overrides(environ).items():
        current = data.get(section)
        data[section] = {**(current if isinstance(current, dict) else {}), **values}
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError([_format_error(e) for e in exc.errors()]) from exc
    problems = _cross_checks(settings)
    if problems:
        raise ConfigError(problems)
    return settings
