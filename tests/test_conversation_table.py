"""The conversation table (bot/flows/offer.py's docstring; the routes in bot/flows/routes.py),
row by row: a candidate whose offer is in a state says or clicks something, the route the
table names takes it, and the offer ends where the table says. The state is reached the
real way (tests/kit.py: PATHS), the words go through the real classifier and worker."""

from __future__ import annotations

import pytest

from bot.flows import offer as offer_flow

CLICK = "click:"

# state before: [(what the candidate says or clicks, the route that takes it, state after)]
TABLE = {
    "sent/awaiting_reply": [
        ("好的，我接受这个offer！", "offer_accept", "accepted/confirmed"),
        ("click:accept", "offer_accept", "accepted/confirmed"),
        ("1", "offer_accept", "accepted/confirmed"),
        ("click:decline", "offer_decline", "declined/awaiting_decline_reason"),
        ("2", "offer_decline", "declined/awaiting_decline_reason"),
        ("我再考虑一下，薪资能否再谈", "offer_doubt", "sent/hesitating"),
        ("请问试用期多久？", "offer_doubt", "sent/hesitating"),
        ("click:question", "offer_doubt", "sent/awaiting_reply"),
        ("在吗", "offer_other", "sent/awaiting_reply"),
        ("我接受，就是有点担心加班", "offer_confirm", "sent/awaiting_reply"),
    ],
    "sent/hesitating": [
        ("click:accept", "offer_accept", "accepted/confirmed"),
        ("不好意思，我决定不去了", "offer_decline", "declined/awaiting_decline_reason"),
        ("在吗", "offer_other", "sent/hesitating"),
    ],
    "accepted/confirmed": [
        ("非常抱歉，家里临时有变故，我去不了了", "offer_renege", "reneged/awaiting_renege_reason"),
        ("click:decline", "offer_renege", "reneged/awaiting_renege_reason"),
        ("入职当天需要几点到？", "offer_doubt_later", "accepted/confirmed"),
        ("click:accept", "offer_accept_again", "accepted/confirmed"),
    ],
    "declined/awaiting_decline_reason": [
        ("薪资比我的预期低了不少，抱歉", "offer_reason", "declined/closed"),
        ("9", "offer_reason", "declined/closed"),
        ("click:reason:timing", "offer_reason", "declined/closed"),
    ],
    "reneged/awaiting_renege_reason": [
        ("家人生病需要照顾", "offer_reason", "reneged/closed"),
    ],
    "declined/closed": [
        ("click:reason:timing", "offer_reason_again", "declined/closed"),
        ("我后悔了，还能接受吗？", "offer_closed", "declined/closed"),
    ],
    "reneged/closed": [
        ("click:decline", "offer_closed", "reneged/closed"),
    ],
    "withdrawn/closed": [
        ("我接受", "offer_closed", "withdrawn/closed"),
    ],
    "expired/closed": [
        ("click:accept", "offer_closed", "expired/closed"),
    ],
}
ROWS = [(before, *row) for before, rows in TABLE.items() for row in rows]


@pytest.mark.parametrize(
    ("before", "reply", "route", "after"),
    ROWS,
    ids=[f"{n}-{row[0]}-{row[2]}" for n, row in enumerate(ROWS)],
)
async def test_a_reply_in_a_state_takes_the_route_and_ends_where_the_table_says(
    k, before, reply, route, after
):
    offer = await k.offer(before)
    answers = len(k.to_candidate)
    if reply.startswith(CLICK):
        taken = await k.clicks(reply.removeprefix(CLICK))
    else:
        taken = await k.says(reply)
    assert (taken, await k.state(offer)) == (route, after)
    assert len(k.to_candidate) > answers  # never silence


def test_every_route_of_the_offer_flow_has_a_row():
    assert {route.name for route in offer_flow.router.routes} == {row[2] for row in ROWS}
