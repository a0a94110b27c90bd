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
from pathlib import Path
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


async def train_with_corrections(data_dir: Path, corpus_dir: Path | None = None) -> Outcome:
    """Train and gate with every correction as an extra example (the ORM must be
    initialised); the fitting runs off the event loop. `corpus_dir`: another corpus
    than the shipped one (tests)."""
    extra = await correction_examples()
    gate = await asyncio.to_thread(train_and_gate, extra, data_dir, corpus_dir)
    return Outcome(len(extra), gate)


async def retrain(settings: Settings) -> Outcome:
    """What `offerbot train-intents` runs: its own database connection, then training."""
    await db.init_db(settings)
    try:
        return await train_with_corrections(settings.data_dir)
    finally:
        await db.close_db()


def report(outcome: Outcome) -> list[str]:
    """What the command prints: one line each, scores as JSON objects."""
    gate = outcome.gate
    return [
        f"corrections: {outcome.extra} extra examples",
        f"new model: {_scores(gate.new)}",
        f"current model: {_scores(gate.current)}",
        f"kept: {'yes' if gate.kept else 'no'} ({gate.path})",
    ]


SHOWN = (
    "macro_f1",
    "hesitate_recall",
    "concerns_micro_f1",
    "decision_recall",
    "false_decisions_acted",
    "ask_rate",
    "n",
)


def _scores(scores: Any) -> str:
    """The headline figures on the shipped test split, as one JSON object."""
    shown = {k: round(scores[k], 4) for k in SHOWN if k in scores}
    return json.dumps(shown, ensure_ascii=False)
