"""The filters routes are declared with (see bot/flows/router.py and routes.py).

Flow-specific ones (the offer in question, the reply's intent) live with their flow;
these are the ones several flows share.
"""

from __future__ import annotations

from bot.flows.router import Filter, Turn


def platform(name: str) -> Filter:
    return Filter(f"platform={name}", lambda turn: turn.inbound.platform == name)


def kind(*kinds: str) -> Filter:
    return Filter(f"kind={'|'.join(kinds)}", lambda turn: turn.inbound.kind in kinds)


def event(name: str) -> Filter:
    """A platform event of this name (kf_msg_or_event, enter_session …)."""
    return Filter(
        f"event={name}",
        lambda turn: turn.inbound.kind == "event" and turn.inbound.event.get("event") == name,
    )


def action(*names: str) -> Filter:
    """A button click whose action is one of `names`."""
    return Filter(
        f"action={'|'.join(names)}",
        lambda turn: turn.inbound.kind == "action" and turn.inbound.action.get("action") in names,
    )


private = Filter("private", lambda turn: turn.inbound.chat_type == "p2p")
group = Filter("group", lambda turn: turn.inbound.chat_type == "group")
known_candidate = Filter("known_candidate", lambda turn: turn.candidate is not None)
admin = Filter("admin", Turn.is_admin)
has_text = Filter("has_text", lambda turn: turn.inbound.kind == "text" and bool(turn.text))


def status(*statuses: str) -> Filter:
    """The offer in question (`turn.data["offer"]`) is in one of these statuses."""
    return Filter(f"status={'|'.join(statuses)}", lambda t: t.data["offer"].status in statuses)


def stage(*stages: str) -> Filter:
    """The offer in question is at one of these stages."""
    return Filter(f"stage={'|'.join(stages)}", lambda t: t.data["offer"].stage in stages)
