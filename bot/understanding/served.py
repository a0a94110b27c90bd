"""Which model reads replies, without scikit-learn (see docs/understanding.md, "Training").

`offerbot train-intents` keeps each model that passed the gate as
`<data_dir>/models/intents-<NNNN>-<name>.npz`; the newest readable one is served, else the
model shipped in the package. Serving needs only numpy: this module must not import the
training code, whose scikit-learn and SciPy cost a second of CPU and 40 MB in every process
that merely names the model (`/readyz`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.understanding.model import SHIPPED_PATH, IntentModel, name_of_file, shipped_model

MODEL_FILE_RX = re.compile(r"^intents-(\d{4,})-[0-9a-f]+\.npz$")
_UNREADABLE = (OSError, ValueError, KeyError)
T = TypeVar("T")


def kept_files(data_dir: Path) -> list[tuple[int, Path]]:
    """The kept model files under `data_dir/models/`, oldest (lowest number) first."""
    folder = data_dir / "models"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = MODEL_FILE_RX.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def served_model(data_dir: Path | None = None) -> IntentModel:
    """The newest kept model under `data_dir/models/` (highest sequence number), else the
    model shipped in the package. A file that cannot be read is skipped."""
    model = _newest_readable(data_dir, _load_cached)
    return shipped_model() if model is None else model


def served_model_name(data_dir: Path | None = None) -> str:
    """The name `served_model(data_dir).name` would give, without loading the model."""
    name = _newest_readable(data_dir, _name_cached)
    return _name_cached(SHIPPED_PATH) if name is None else name


def _newest_readable(data_dir: Path | None, read: Callable[[Path], T]) -> T | None:
    """`read` of the newest kept file it can read, else None."""
    if data_dir is not None:
        for _seq, path in reversed(kept_files(Path(data_dir))):
            try:
                return read(path)
            except _UNREADABLE:
                continue
    return None


_models: dict[tuple[str, float], IntentModel] = {}
_names: dict[tuple[str, float], str] = {}


def _load_cached(path: Path) -> IntentModel:
    key = (str(path), path.stat().st_mtime)
    if key not in _models:
        _models[key] = IntentModel.load(path)
    return _models[key]


def _name_cached(path: Path) -> str:
    key = (str(path), path.stat().st_mtime)
    if key not in _names:
        _names[key] = name_of_file(path)
    return _names[key]
