"""Every code the bot writes where people read it has words in both catalogs: the timeline
events `/history` shows, and the buttons a click echoes in the playground."""

from __future__ import annotations

import ast
import re
import tomllib
import typing
from pathlib import Path

import pytest

from bot.documents.intake import Outcome
from bot.flows.offer_state import TRANSITIONS
from bot.history_text import button_label, event_label
from bot.i18n import CATALOG_DIR, LANGUAGES, Catalog
from tests.helpers import drain

ROOT = Path(__file__).resolve().parent.parent


def _literals(node: ast.expr) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _literals(node.body), _literals(node.orelse)
        return None if body is None or orelse is None else body | orelse
    return None


def event_codes() -> set[str]:
    """Every `kind` a `fx.record(candidate_id, kind, …)` call in bot/ can write: the
    literals, the offer transitions (`move` records the event), the document outcomes.
    A call the scan cannot read fails the test, so a new kind cannot slip by."""
    codes: set[str] = set(TRANSITIONS)
    codes |= {f"document_{outcome}" for outcome in typing.get_args(Outcome)}
    known_dynamic = {("offer_state.py", "event"), ("documents.py", "f'document_{intake.outcome}'")}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and len(node.args) >= 2
            ):
                continue
            found = _literals(node.args[1])
            if found is None:
                assert (path.name, ast.unparse(node.args[1])) in known_dynamic, path
            else:
                codes |= found
    return codes


def _raw(language: str) -> dict:
    with open(CATALOG_DIR / f"{language}.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_event_code_has_a_label(language):
    labels = _raw(language)["commands"]["event_kinds"]
    codes = event_codes()
    assert {"documents_started", "document_stored", "offer_accepted"} <= codes
    missing = sorted(code for code in codes if code not in labels)
    assert not missing, f"{language}: no label for {missing}"
    catalog = Catalog(language)
    assert all(event_label(catalog, code) != code for code in codes)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_button_has_a_label(language):
    catalog = Catalog(language)
    from bot.vocab import REASON_CATEGORIES

    keys = ["accept", "decline", "question", "claim", "resolve", "correct"]
    keys += [f"reason:{c}" for c in REASON_CATEGORIES]
    for key in keys:
        shown = button_label(catalog, {"action": key, "offer_id": 1})
        assert shown and shown != key, (language, key)
    assert button_label(catalog, {"action": "something-new"}) == "something-new"


def _keys(tree: dict, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        found |= _keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return found


def test_both_catalogs_have_the_same_keys():
    """Every sentence in both languages (a key in one only falls back to Chinese)."""
    zh, en = (_keys(_raw(language)) for language in ("zh", "en"))
    assert sorted(zh - en) == [] and sorted(en - zh) == []


async def test_history_names_every_event_in_words(rt):
    """/history after an accepted offer: the timeline reads 接受 offer, 开始收入职材料 …"""
    from tests.hr_data import ask
    from tests.offer_steps import api, clicked, hire, send

    async with api(rt) as client:
        offer = await hire(client)
    await drain(rt)
    await send(rt, clicked("accept", offer_id=offer["id"]))
    text = (await ask(rt, "/history 张三"))["text"]
    recent = text.split(rt.catalog.t("commands.history.recent"))[1]
    assert "接受 offer" in recent and "开始收入职材料" in recent
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", recent), recent  # no raw event code
