"""Raw platform payloads and the Inbound each must become (tests/payloads/, see
docs/testing.md): every `<platform>/<name>.xml|json` goes through that platform's real parse
function and must give exactly `<name>.inbound.json` — the Inbound's fields that are not
defaults, `null` for "acknowledged, nothing to store", or `{"refused": <HTTP status>,
"reason": …}` for a payload the edge refuses. A hostile payload is named `hostile_*`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.channels.base import Inbound
from bot.channels.feishu import parse as feishu_events

# The platforms' parse functions: imported here and nowhere else in this file.
from bot.channels.platform.errors import Rejected
from bot.channels.wecom import crypto as wecom_crypto
from bot.channels.wecom import parse as wecom_parse
from bot.channels.wecom_bot import parse as wecom_bot_parse
from bot.services.feishu_inbound import CARD_ACTION, MESSAGE, event_type

PAYLOADS = Path(__file__).resolve().parent / "payloads"
EXPECTED = ".inbound.json"


def _feishu(raw: bytes) -> Inbound | None:
    """As bot/services/feishu_inbound.py's `take` picks the parser by event type."""
    payload = json.loads(raw)
    kind = event_type(payload)
    if kind == MESSAGE:
        return feishu_events.parse_message(payload)
    if kind == CARD_ACTION:
        return feishu_events.parse_click(payload).inbound
    return None  # subscribed to more than the bot handles: acknowledged


# platform folder -> raw bytes -> Inbound | None (raises Rejected to refuse)
PARSERS: dict[str, Callable[[bytes], Inbound | None]] = {
    "wecom": lambda raw: wecom_parse.callback_inbound(wecom_crypto.parse_xml(raw)),
    "wecom_kf": lambda raw: wecom_parse.kf_inbound(json.loads(raw)),
    "wecom_bot": lambda raw: wecom_bot_parse.frame_inbound(json.loads(raw)),
    "feishu": _feishu,
}


def parsed(path: Path) -> Any:
    """What the payload becomes, in the expectation files' terms."""
    try:
        inbound = PARSERS[path.parent.name](path.read_bytes())
    except Rejected as exc:
        return {"refused": exc.status, "reason": exc.reason}
    return None if inbound is None else inbound.model_dump(mode="json", exclude_defaults=True)


def payloads() -> list[Path]:
    return sorted(
        p for p in PAYLOADS.glob("*/*") if p.suffix in (".xml", ".json") and EXPECTED not in p.name
    )


def expected_path(path: Path) -> Path:
    return path.with_name(path.stem + EXPECTED)


@pytest.mark.parametrize("path", payloads(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_payload_becomes_its_inbound(path):
    expected = json.loads(expected_path(path).read_text(encoding="utf-8"))
    got = parsed(path)
    assert got == expected
    if isinstance(expected, dict) and "refused" not in expected:
        # the same Inbound once more, read back from the expectation (no field lost)
        inbound = PARSERS[path.parent.name](path.read_bytes())
        assert Inbound.model_validate(expected) == inbound


def test_every_payload_has_an_expectation_and_every_expectation_a_payload():
    folders = {p.name for p in PAYLOADS.iterdir() if p.is_dir()}
    assert folders == set(PARSERS)
    expectations = set(PAYLOADS.glob(f"*/*{EXPECTED}"))
    assert expectations == {expected_path(p) for p in payloads()}
    hostile = {p.parent.name for p in payloads() if p.name.startswith("hostile_")}
    assert hostile == folders  # every platform is fed some
