"""Personal data helpers: normalise and mask phone numbers, keep ID numbers out of text."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

_NON_DIGITS = re.compile(r"\D+")
# Mainland resident ID: 17 digits + digit/X. Also catches 15-digit legacy numbers.
_ID_NUMBER = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?!\d)")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")


def normalize_phone(raw: str | None) -> str | None:
    """'+86 138-0013-8000' → '13800138000'. None for empty input."""
    if not raw:
        return None
    digits = _NON_DIGITS.sub("", raw)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def mask_phone(raw: str | None) -> str:
    """'13800138000' → '138****8000'; anything short is fully masked."""
    digits = normalize_phone(raw) or ""
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****" if digits else ""


def mask_email(raw: str | None) -> str:
    """'zhangsan@example.com' → 'z***@example.com' (logs and alerts never show the whole)."""
    if not raw:
        return ""
    local, _, domain = raw.strip().rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def scrub(text: str) -> str:
    """Text safe for a group chat: ID numbers removed, phone numbers masked."""
    text = _ID_NUMBER.sub("[ID]", text)
    return _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def private_data_dir(root: Path) -> None:
    """Make the data dir readable by the service alone (see docs/privacy.md): the process
    umask becomes 077, so every file created from now on (SQLite file, -wal, -shm, documents,
    the embedded Redis, which inherits it) is 0600 and every directory 0700; what is already
    there is brought to the same modes."""
    root = Path(root)
    if root.exists() and (root.resolve() == Path(root.resolve().anchor) or _shared(root)):
        # /tmp, / and the like hold other people's files: never re-mode them.
        raise ValueError(
            f"storage.data_dir = {str(root)!r} is a shared directory; give offerbot a "
            "directory of its own (e.g. ./data)"
        )
    os.umask(0o077)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, 0o700)
        elif path.is_file():
            os.chmod(path, 0o600)


def _shared(path: Path) -> bool:
    """A sticky, world-writable directory (/tmp, /var/tmp): many users' files live there."""
    mode = path.stat().st_mode
    return bool(mode & stat.S_ISVTX and mode & stat.S_IWOTH)
