"""`offerbot train-intents`: HR's corrections become training examples for the reply model.

Each `Correction` row (written by /correct, bot/commands/correct.py) is one example with
HR's label. Training and the no-worse gate are the model's own (bot/understanding/
training.py): the new model is kept only if it scores no worse than the current one on
the shipped test split. See docs/understanding.md, "Confirmation and corrections".
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.storage import db
from bot.storage.models import Correction
from bot.understanding.corpus import Example
from bot.understanding.training import GateResult, train_and_gate

SOURCE = "correction"


async def correction_examples() -> list[Example]:
    """Every correction as an example (the ORM must be initialised), oldest first."""
    rows = await Correction.all().order_by("id")
    return [
        Example(
            text=row.text,
            intent=row.hr_intent,
            concerns=tuple(row.hr_concerns or ()),
            source=f"{SOURCE}:{row.id}",
        )
        for row in rows
        if row.text.strip()
    ]


@dataclass(frozen=True)
class Outcome:
    extra: int  # examples that came from corrections
    gate: GateResult


async def retrain(settings: Settings) -> Outcome:
    """Read the corrections, then train and gate (CPU work, off the event loop)."""
    await db.init_db(settings)
    try:
        extra = await correction_examples()
    finally:
        await db.close_db()
    gate = await asyncio.to_thread(train_and_gate, extra, settings.data_dir)
    return Outcome(len(extra), gate)


def report(outcome: Outcome) -> list[str]:
    """What the command prints: one line each, scores as JSON objects."""
    gate = outcome.gate
    return [
        f"corrections: {outcome.extra} extra examples",
        f"new model: {_scores(gate.new)}",
        f"current model: {_scores(gate.current)}",
        f"kept: {'yes' if gate.kept else 'no'} ({gate.path})",
    ]


def _scores(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if hasattr(value, "__dict__"):
        value = vars(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
