"""The route table (bot/flows/routes.py) and the Router it is built from."""

from __future__ import annotations

import pytest

from bot.channels.base import Inbound
from bot.flows.filters import kind, platform
from bot.flows.router import Router, SkipHandler, Turn
from bot.flows.routes import table


def test_the_flows_are_included_in_the_visible_order():
    flows = [router.name for router in table().walk()]
    assert flows == [
        "root",
        "wecom_kf_sync",
        "commands",
        "binding",
        "documents",
        "offer",
        "offer_send",
        "reapply",
        "fallback",
    ]


def test_the_table_is_in_the_visible_order():
    names = [route.name for route in table().all_routes()]
    # kf pulls first, commands before any candidate flow, fallback last
    order = ["wecom_kf_sync", "commands", "binding", "documents_files", "offer_accept"]
    assert [n for n in names if n in order] == order
    assert names[-1] == "fallback"
    assert len(names) == len(set(names))


def test_every_timer_kind_the_flows_schedule_has_a_handler():
    assert sorted(table().all_timers()) == [
        "docs_hr_alert",
        "docs_remind",
        "offer_escalate",
        "offer_expire",
        "offer_remind",
        "onboard",
    ]


def _turn(**fields) -> Turn:
    inbound = Inbound(platform="web", event_id="e1", sender_id="u1", **fields)
    return Turn(fx=None, inbound=inbound, conversation=None, candidate=None)  # type: ignore[arg-type]


async def test_filters_choose_and_a_skip_passes_the_turn_on():
    seen: list[str] = []
    first, second = Router("first"), Router("second")

    @first.turn(kind("text"), name="skips")
    async def skips(turn: Turn) -> None:
        seen.append("skips")
        raise SkipHandler

    @first.turn(platform("wecom"), name="wrong_platform")
    async def never(turn: Turn) -> None:
        seen.append("never")

    @second.turn(~kind("image"), name="takes")
    async def takes(turn: Turn) -> None:
        seen.append("takes")

    top = Router("top").include_routers(first, second)
    assert await top.route(_turn(kind="text", text="hi")) == "second"  # the flow's name
    assert seen == ["skips", "takes"]
    assert await top.route(_turn(kind="image")) is None


def test_a_router_is_included_once():
    child = Router("child")
    top = Router("top").include_routers(child)
    with pytest.raises(ValueError):
        top.include_routers(child)
