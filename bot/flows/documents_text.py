"""What the documents flow says (docs/documents.md): the checklist as text, progress,
the intro card and its buttons. Words come from the catalogs; this module only assembles them."""

from __future__ import annotations

import logging

from bot.channels.base import Action, Outgoing
from bot.documents.checklist import ItemState, Progress
from bot.privacy import mask_phone
from bot.services.fx import Fx
from bot.storage.models import (
    Candidate,
    Offer,
)

log = logging.getLogger(__name__)

# Offers whose candidate may still send documents (missing items can follow after day one).


def item_status(progress: Progress, key: str) -> str | None:
    state = progress.state(key)
    return state.status if state else None


def item_name(fx: Fx, state: ItemState) -> str:
    return state.item.name(fx.catalog.language)


def item_names(fx: Fx, states: list[ItemState]) -> str:
    return fx.t("documents.list_sep").join(item_name(fx, s) for s in states)


def item_keys(states: list[ItemState]) -> list[str]:
    return [s.item.key for s in states]


def numbered(fx: Fx, progress: Progress, states: list[ItemState] | None = None) -> str:
    """Numbered lines, numbered by place in the whole checklist (what candidates type)."""
    shown = progress.items if states is None else states
    return "\n".join(
        fx.t(
            "documents.progress_line",
            number=progress.number(s.item.key),
            name=item_name(fx, s),
            status=fx.t(f"documents.status.{s.status}"),
        ).rstrip()
        for s in shown
    )


def progress_text(fx: Fx, progress: Progress) -> str:
    lines = [
        fx.t("documents.progress_title", done=progress.done, total=progress.total),
        numbered(fx, progress),
    ]
    asking = progress.state(progress.checklist.asking or "") if progress.checklist else None
    example = asking or progress.next_to_ask()
    if example is not None:
        lines.append(
            fx.t(
                "documents.progress_tip",
                number=progress.number(example.item.key),
                name=item_name(fx, example),
            )
        )
    return "\n".join(lines)


def next_line(fx: Fx, progress: Progress, key: str) -> str:
    state = progress.state(key)
    assert state is not None
    return fx.t("documents.next", name=item_name(fx, state), hint=state.item.hint(fx.catalog))


def intro_message(fx: Fx, offer: Offer, progress: Progress, first: ItemState) -> Outgoing:
    listing = "\n".join(f"{i}. {item_name(fx, s)}" for i, s in enumerate(progress.items, 1))
    # The "say which item" example names one of this checklist's own items (the last).
    example = progress.items[-1]
    text = fx.t(
        "documents.intro",
        example_number=progress.total,
        example_name=item_name(fx, example),
        total=progress.total,
        list=listing,
        tip=fx.t("documents.tip"),
        name=item_name(fx, first),
        hint=first.item.hint(fx.catalog),
    )
    return Outgoing(
        kind="card", title=fx.t("documents.intro_title"), text=text, actions=buttons(fx, offer)
    )


def buttons(fx: Fx, offer: Offer) -> tuple[Action, ...]:
    return (
        Action(
            key="docs_skip",
            label=fx.t("documents.button_skip"),
            command=fx.t("documents.word_skip"),
            value={"action": "docs_skip", "offer_id": offer.id},
        ),
        Action(
            key="docs_progress",
            label=fx.t("documents.button_progress"),
            command=fx.t("documents.word_progress"),
            value={"action": "docs_progress", "offer_id": offer.id},
        ),
    )


def who(fx: Fx, candidate: Candidate) -> str:
    """The candidate as HR groups may see them: name and masked phone, nothing more."""
    if not candidate.phone:
        return candidate.name
    return fx.t("documents.who", name=candidate.name, phone=mask_phone(candidate.phone))


def start_date_text(fx: Fx, offer: Offer) -> str:
    d = offer.start_date
    return fx.t("documents.date", year=d.year, month=d.month, day=d.day)
