"""JSON that every database accepts: PostgreSQL's jsonb refuses the NUL character and
text that is not valid UTF-8 (a lone surrogate, which a JSON `\\ud800` escape produces),
both of which hostile input (a file name, a message) may carry. NUL is dropped and a lone
surrogate becomes U+FFFD before storing."""

from __future__ import annotations

import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
