"""Log set-up for the commands: text or one JSON object a line (`[server] log_format`), and a
request id on every line written while a request is handled (docs/operations.md).

The id comes from the caller's `X-Request-Id` (a reverse proxy's, when it is a short token)
or is made here; the response carries it back, so a log line and an HTTP answer can be
matched. Lines never carry request bodies: candidates' words and phone numbers stay out.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import time

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
HEADER = "X-Request-Id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Third-party loggers that print request bodies or tokens stay at WARNING.
NOISY = ("tortoise", "aiosqlite", "asyncpg", "Lark", "urllib3")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a short plain token, else a fresh one."""
    if header and _SAFE_ID.match(header):
        return header
    return secrets.token_hex(8)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", ""):
            entry["request_id"] = record.request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", "")
        return f"{line} [req {rid}]" if rid else line


def setup(log_format: str = "text", verbose: bool = False) -> None:
    """Configure the root logger once per process."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
