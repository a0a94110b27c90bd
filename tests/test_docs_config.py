"""docs/configuration.md and config.example.toml against the config model (bot/config.py).

A key added to `Settings` must be documented (under its `## [section]` heading, with its
real default) and appear in config.example.toml; a documented key must exist.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "config.example.toml"

_HEADING = re.compile(r"^## `\[(\w+)\]`\s*$")
_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|\s*`(.*?)`\s*\|")


def _sections() -> dict[str, type[BaseModel]]:
    """TOML sections of the model: section name → its pydantic model."""
    out = {}
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out[name] = ann
    return out


def _top_level_keys() -> list[str]:
    """Keys of Settings that are not sections and are TOML keys (`source` is not)."""
    return [
        name
        for name, field in Settings.model_fields.items()
        if name not in _sections() and not field.exclude
    ]


def _documented() -> dict[str, dict[str, str]]:
    """`## [section]` → {key: default as written} from the page's tables."""
    out: dict[str, dict[str, str]] = {}
    current = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        m = _HEADING.match(line)
        if m:
            current = out.setdefault(m.group(1), {})
            continue
        if line.startswith("#"):
            current = None
        m = _ROW.match(line)
        if m and current is not None:
            current[m.group(1)] = m.group(2)
    return out


SECTIONS = _sections()


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_key_is_documented_with_its_default(section: str) -> None:
    model = SECTIONS[section]
    documented = _documented().get(section)
    assert documented is not None, f"docs/configuration.md has no '## `[{section}]`' heading"
    missing = [k for k in model.model_fields if k not in documented]
    assert not missing, f"[{section}] keys missing from docs/configuration.md: {missing}"
    unknown = [k for k in documented if k not in model.model_fields]
    assert not unknown, f"docs/configuration.md documents keys [{section}] lacks: {unknown}"
    defaults = model()
    for key, written in documented.items():
        value = tomllib.loads(f"v = {written}")["v"]
        assert getattr(model.model_validate({key: value}), key) == getattr(defaults, key), (
            f"{section}.{key}: docs/configuration.md says the default is {written}"
        )


def test_top_level_keys_are_documented() -> None:
    documented = _documented()
    for key in _top_level_keys():
        assert key in documented, f"docs/configuration.md has no '## `[{key}]`' heading"
    extra = [s for s in documented if s not in SECTIONS and s not in _top_level_keys()]
    assert not extra, f"docs/configuration.md documents sections the model lacks: {extra}"


def test_config_example_has_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    example = tomllib.loads(text)
    for section, model in SECTIONS.items():
        assert section in example, f"config.example.toml has no [{section}]"
        missing = [k for k in model.model_fields if k not in example[section]]
        assert not missing, f"[{section}] keys missing from config.example.toml: {missing}"
    for key in _top_level_keys():
        # Free-form tables (talking_points) are shown commented out, as an example.
        assert key in example or f"[{key}]" in text, f"config.example.toml never shows [{key}]"
    # The example must itself be a valid configuration.
    Settings.model_validate(example)
