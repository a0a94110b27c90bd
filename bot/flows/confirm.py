"""A decision the bot is not sure of is confirmed, never guessed (the offer flow's helper).

When the classifier reads a free-text reply as accept or decline but is not `sure` (or
reads an acceptance that still names a concern), the offer does not move: the candidate
is asked to confirm with one tap or digit ("您是要接受这份 offer 吗？回复 1 确认 / 3 我还有
问题"), and only that confirmation moves it.
The question is remembered in the conversation's context (`confirm`), like the other
stages keep theirs, until the candidate's next reply about the offer:

    asked      next reply                       then
    accept     1 / the "confirm" button          accepted, HR sees the words first written
    decline    2 / the "confirm" button          declined, the reason is asked
    renege     确认 / the "confirm" button       reneged (after an accepted offer: the
                                                digits name document items then)
    any        3 / "I have questions"            a question to HR, with the words first written
    any        anything else                     handled as a new reply (asked again if unsure)

Buttons and the digits 1/2/3 are always sure. See docs/understanding.md, "Confirmation
and corrections".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.channels.base import Action, Outgoing
from bot.flows.router import Turn
from bot.storage.context import PendingConfirmation, conversation_context, save_context
from bot.storage.models import Offer

DECISIONS = ("accept", "decline")
SETTLED = ("process",)  # concerns an acceptance may carry without doubting
# A yes to the bot's question, typed (normalised text): confirms whatever was asked.
YES_RX = re.compile(r"^(?:确认|确定|是的?|对的?|没错|yes|confirm(?:ed)?|correct)[\s.!。！~]*$")
# What each question confirms: the offer's status it applies to, and its button/digit.
ASKS = {
    "accept": ("sent", "accept", "1", "primary"),
    "decline": ("sent", "decline", "2", "danger"),
    "renege": ("accepted", "decline", "", "danger"),
}


@dataclass(frozen=True)
class Asked:
    """The decision awaiting confirmation, and the words it was read from."""

    kind: str  # accept / decline / renege
    intent: str  # accept / decline
    concerns: tuple[str, ...]
    text: str
    reading: dict[str, Any]


def question_for(
    offer: Offer, intent: str, sure: bool, concerns: tuple[str, ...] = ()
) -> str | None:
    """The kind of question to ask before acting on this reading, or None to act.

    Besides an unsure reading, an acceptance that still names a concern ("我接受，就是
    有点担心加班") mixes the decision with a doubt and is asked about too; a practical
    question about the process ("接受，请问要带什么材料") is not a doubt."""
    mixed = intent == "accept" and any(c not in SETTLED for c in concerns)
    if (sure and not mixed) or intent not in DECISIONS:
        return None
    if offer.status == "sent":
        return intent
    if offer.status == "accepted" and intent == "decline":
        return "renege"
    return None  # nothing would move: no need to ask


async def ask(
    turn: Turn,
    offer: Offer,
    kind: str,
    *,
    concerns: tuple[str, ...],
    text: str,
    reading: dict[str, Any],
) -> Outgoing:
    """Remember the question and return it (buttons where the platform has them; the
    digits are in the text for every platform)."""
    status, intent, digit, style = ASKS[kind]
    await _save(
        turn,
        PendingConfirmation(
            offer_id=offer.id,
            kind=kind,
            intent=intent,
            concerns=list(concerns),
            text=text,
            reading=reading,
            at=turn.fx.now().isoformat(),
        ),
    )
    fx, value = turn.fx, {"offer_id": offer.id}
    actions = (
        Action(
            key=intent,
            label=fx.t(f"offer.confirm.button_{kind}"),
            command=digit or fx.t("offer.confirm.yes_word"),
            value=value,
            style=style,
        ),
        Action(
            key="question",
            label=fx.t("offer.confirm.button_question"),
            command="3",
            value=value,
        ),
    )
    return Outgoing(kind="card", text=fx.t(f"offer.confirm.ask_{kind}"), actions=actions)


async def take(turn: Turn, offer: Offer) -> Asked | None:
    """The question still open for this offer (and forget it: one answer settles it)."""
    stored = conversation_context(turn.conversation).confirm
    if stored is None:
        return None
    await _save(turn, None)
    kind = stored.kind
    if stored.offer_id != offer.id or kind not in ASKS or offer.status != ASKS[kind][0]:
        return None  # another offer, or this one moved meanwhile (expired, HR withdrew)
    return Asked(
        kind=kind,
        intent=ASKS[kind][1],
        concerns=tuple(stored.concerns),
        text=stored.text,
        reading=stored.reading,
    )


async def _save(turn: Turn, value: PendingConfirmation | None) -> None:
    ctx = conversation_context(turn.conversation)
    if value is None and ctx.confirm is None:
        return
    ctx.confirm = value
    await save_context(turn.conversation, ctx)
