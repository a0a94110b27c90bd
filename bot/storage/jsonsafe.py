"""JSON that every database accepts: PostgreSQL's jsonb refuses the NUL character, which
hostile input (a file name, a message) may carry. It is dropped before storing."""

from __future__ import annotations

from typing import Any


def json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
