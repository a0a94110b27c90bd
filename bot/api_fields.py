"""The field types of the API's request models: what each value may be, checked by
pydantic and stated in the JSON schema (and so in the OpenAPI document), so a client, a
schema-driven fuzzer and the validators agree (see docs/hardening.md)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

# -- field types --------------------------------------------------------------------------

# C0 control characters other than tab/newline: PostgreSQL refuses NUL in text, and none
# of them belongs in a name or a note.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value


def Short(max_length: int):  # noqa: N802 - reads like a type at the use site
    """A one-line string: trimmed, not empty, capped at the database column's size."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
        AfterValidator(_printable),
    ]


def Long(max_length: int):  # noqa: N802
    """Free text stored verbatim (notes, guides)."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_printable)]


class _Schema:
    """Adds keywords to the JSON schema of the type it annotates (what a validator checks
    is stated in the OpenAPI document too)."""

    def __init__(self, **keywords: Any):
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), **self.keywords}


# Dates the API takes: 1970..2100. Before 1901 local offsets have seconds (Asia/Shanghai
# was +08:05:43), year 1 and 9999 overflow on any time zone shift, and no offer, start
# date or interview of a living ATS is outside this window (docs/hardening.md).
EARLIEST, LATEST = date(1970, 1, 1), date(2100, 12, 31)
_WINDOW = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def _in_window(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be {_WINDOW}")
    return value


def _window_schema(fmt: str) -> _Schema:
    low, high = EARLIEST.isoformat(), LATEST.isoformat()
    if fmt == "date-time":
        low, high = f"{low}T00:00:00Z", f"{high}T23:59:59Z"
    return _Schema(formatMinimum=low, formatMaximum=high, description=f"{_WINDOW}")


Day = Annotated[date, AfterValidator(_in_window), _window_schema("date")]


def _company_time(value: datetime, info: ValidationInfo) -> datetime:
    """A datetime without an offset is company time (ATS exports rarely carry one)."""
    _in_window(value)  # before any shift: year 1 or 9999 would overflow
    if value.tzinfo is None:
        tz = (info.context or {}).get("tz", UTC)
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Moment = Annotated[datetime, AfterValidator(_company_time), _window_schema("date-time")]
Id = Annotated[int, Field(gt=0, le=2_147_483_647)]  # the database's 32-bit integer ids
ExternalId = Short(128)
Name = Short(200)


def _shaped(pattern: str, what: str):
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"not {what}")
        return value

    return AfterValidator(check), _Schema(pattern=f"^{pattern}$")


def Money(**bound: Any):  # noqa: N802 - reads like a type at the use site
    """A decimal of at most 10 digits before the point and 2 after (the column's
    NUMERIC(12, 2)), as a JSON number or a string; `bound` is gt=0 or ge=0."""
    ((name, limit),) = bound.items()
    number = {"type": "number", "maximum": 9_999_999_999.99, "multipleOf": 0.01,
              ("exclusiveMinimum" if name == "gt" else "minimum"): limit}  # fmt: skip
    text = {"type": "string", "pattern": r"^\s*\+?0*\d{0,10}(\.\d{0,2}0*)?\s*$"}
    return Annotated[
        Decimal,
        Field(max_digits=12, decimal_places=2, **bound),
        WithJsonSchema({"anyOf": [number, text]}),
    ]


Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=64),
    *_shaped(r"\+?[0-9][0-9 \-]{4,40}", "a phone number (digits, +, - and spaces)"),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    *_shaped(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address"),
]
Currency = Annotated[
    str, BeforeValidator(_upper), *_shaped(r"[A-Z]{3}", "a three-letter currency code (CNY)")
]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=1000),
    *_shaped(r"https?://\S+", "an http(s) URL"),
]
DaysPerWeek = Annotated[int, Field(ge=0, le=7)]
