"""Message catalogs: every sentence the bot says lives in flows/messages/{zh,en}.toml."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).parent / "flows" / "messages"
LANGUAGES = ("zh", "en")


@cache
def _load(language: str) -> dict[str, Any]:
    with open(CATALOG_DIR / f"{language}.toml", "rb") as fh:
        return tomllib.load(fh)


def _lookup(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:  # a missing placeholder must not crash a flow
        return "{" + key + "}"


class Catalog:
    """`t("offer.accepted", name="张三")`; falls back to zh when a key is missing in en."""

    def __init__(self, language: str = "zh"):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        self.language = language

    def raw(self, key: str) -> Any:
        try:
            return _lookup(_load(self.language), key)
        except KeyError:
            return _lookup(_load("zh"), key)

    def t(self, key: str, /, **values: Any) -> str:
        template = self.raw(key)
        if isinstance(template, list):
            template = "\n".join(template)
        return str(template).format_map(_SafeDict(values))

    def list(self, key: str) -> list[str]:
        value = self.raw(key)
        return list(value) if isinstance(value, list) else [str(value)]


def money(catalog: Catalog, amount: Decimal | float | int | str, currency: str = "CNY") -> str:
    """The one way money is written, everywhere ("25,000 元", "3,500.50 USD"): offer
    cards, alerts, advisories, /history."""
    value = Decimal(str(amount))
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    if currency.upper() == "CNY":
        return catalog.t("offer.salary_cny", amount=text)
    return catalog.t("offer.salary_other", amount=text, currency=currency.upper())
