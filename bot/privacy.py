"""Personal data helpers: normalise and mask phone numbers, keep ID numbers out of text."""

from __future__ import annotations

import re

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


def scrub(text: str) -> str:
    """Text safe for a group chat: ID numbers removed, phone numbers masked."""
    text = _ID_NUMBER.sub("[ID]", text)
    return _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
