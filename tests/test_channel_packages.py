"""One package per channel (docs/architecture.md, "Platform packages"): each exposes
`load()`, each is listed once in bot/channels/registry.py, and listing them costs
nothing until one is on."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from bot.channels.registry import CHANNELS

ROOT = Path(__file__).resolve().parent.parent
SHARED = {"platform"}  # what the channel packages share; not a channel


def channel_packages() -> list[str]:
    return sorted(
        p.parent.name
        for p in (ROOT / "bot" / "channels").glob("*/__init__.py")
        if p.parent.name not in SHARED
    )


def test_every_channel_package_is_listed_once_by_its_name():
    assert sorted(CHANNELS) == channel_packages()
    for name, package in CHANNELS.items():
        assert package is importlib.import_module(f"bot.channels.{name}")
        assert callable(package.load())


def test_listing_the_channels_imports_none_of_them():
    code = (
        "import json, sys; import bot.channels.registry; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('bot.channels.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout)
    assert "bot.channels.registry" in loaded
    heavy = [m for m in loaded if m.count(".") > 2 and m.split(".")[2] in CHANNELS]
    assert heavy == [], f"imported before any channel is on: {heavy}"
