"""The test kit itself (tests/kit.py): states reached the real way, sends recorded in
outbox order, catalog sentences recognised, the handler of each turn named."""

from __future__ import annotations

import pytest

from bot.channels.base import HR_GROUP
from tests.helpers import sent_messages
from tests.kit import PATHS


async def test_what_the_kit_records_is_what_the_outbox_sent(k):
    offer = await k.offer()
    assert await k.says("好的，我接受这个offer！") == "offer_accept"
    assert k.route == "offer_accept"
    assert (await k.offer_row()).status == "accepted"
    [message, welcome, *_] = k.to_candidate
    assert message.key == f"offer:{offer.id}:message:web:cand1"
    assert message.actions == ["accept", "decline", "question"]
    assert welcome.says("offer.accepted") and not welcome.says("offer.duplicate")
    # The same messages, in the same order, as the outbox rows marked sent.
    for who in (k.user(), HR_GROUP):
        assert [s.text for s in k.to(who)] == [m["text"] for m in await sent_messages("web", who)]
        cards = [m["text"] for m in await sent_messages("web", who, cards=True)]
        assert [s.text for s in k.to(who, cards=True)] == cards
    assert len(k.sent) == len(await sent_messages()) + len(await sent_messages(cards=True))


async def test_two_candidates_each_have_their_own_messages(k):
    first = await k.offer()
    second = await k.offer(web_id="cand2", name="李四", phone="13900139000")
    await k.clicks("decline", second)
    assert await k.state(second) == "declined/awaiting_decline_reason"
    assert await k.state(first) == "sent/awaiting_reply"
    assert len(k.to(first)) == 1 and len(k.to(second)) == 2


@pytest.mark.parametrize("state", sorted(PATHS))
async def test_every_state_is_reached_the_real_way(k, state):
    offer = await k.offer(state)
    assert await k.state(offer) == state
    assert (await k.kinds(offer))[:3] == ["offer_created", "offer_queued", "offer_delivered"]


async def test_an_unknown_state_is_refused(k):
    with pytest.raises(KeyError):
        await k.offer("sent/nowhere")


async def test_the_example_of_the_development_page(k):
    """docs/development.md, "Writing a test", as it is written there."""
    await k.offer("declined/closed")  # declined by button, reason given
    assert await k.says("我后悔了，还能接受吗？") == "offer_closed"  # the handler that took it
    assert k.to_candidate[-1].says("offer.closed.declined")  # a catalog sentence
    assert await k.state() == "declined/closed"
    assert not k.to_candidate[-1].says("offer.closed.withdrawn")
