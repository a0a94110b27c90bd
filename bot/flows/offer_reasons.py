"""The reason a candidate gives for a no (docs/offer-flow.md, "Why, when they say no"):
the menu the bot asks with, and how an answer to it is read."""

from __future__ import annotations

import re

from bot.channels.base import Action, Outgoing
from bot.services.fx import Fx
from bot.storage.models import Offer
from bot.understanding.rules import classify_reason, normalise
from bot.vocab import REASON_CATEGORIES

REASON_CLICK = "reason:"  # a menu button's key: reason:<category>
MENU_ONLY = re.compile(r"^(?:我?选|第)?\s*\d{1,2}\s*(?:号|个|项)?\s*$")


def reason_question(fx: Fx, offer: Offer, ask_key: str) -> Outgoing:
    """The question and its numbered menu, each choice a button with its digit as twin."""
    labels = [fx.t(f"offer.reasons.{category}") for category in REASON_CATEGORIES]
    menu = "\n".join(f"{number} {label}" for number, label in enumerate(labels, 1))
    actions = tuple(
        Action(
            key=f"{REASON_CLICK}{category}",
            label=label,
            command=str(number),
            value={"offer_id": offer.id},
        )
        for number, (category, label) in enumerate(zip(REASON_CATEGORIES, labels, strict=True), 1)
    )
    return Outgoing(kind="card", text=f"{fx.t(ask_key)}\n{menu}", actions=actions)


def read_reason(text: str, click: str | None) -> tuple[str, str | None]:
    """(category, the candidate's words worth quoting) of an answer to the menu."""
    if click is not None:
        return click[len(REASON_CLICK) :], None
    category = classify_reason(text)
    # "3" is a menu choice, not words worth quoting
    return category, None if MENU_ONLY.match(normalise(text)) else text
