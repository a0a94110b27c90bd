"""`Offer.data`, typed (bot/storage/offer_data.py): what it holds reads as its type, keys
another version wrote are kept, malformed values count as absent — in memory, through the
database, and where the flows read it."""

from __future__ import annotations

import pytest

from bot.storage.models import Offer
from bot.storage.offer_data import OfferData, offer_data, set_offer_data

FULL = {
    "expires_defaulted": True,
    "address": ["wecom", "kf:wmK"],
    "bound_to": "web:page-abc",
    "question_pending": True,
}


def test_what_the_column_holds_reads_as_its_type():
    data = offer_data(Offer(data=FULL))
    assert data.expires_defaulted and data.question_pending
    assert data.address == ("wecom", "kf:wmK") and data.bound_to == "web:page-abc"
    assert data.stored() == FULL
    assert offer_data(Offer(data={})) == OfferData()


@pytest.mark.parametrize(
    "raw",
    [
        {"address": "wecom:kf:wmK"},
        {"address": ["wecom"]},
        {"address": ["wecom", 42]},
        {"address": ["wecom", ""]},
        {"bound_to": 42},
        {"bound_to": ""},
        {"bound_to": ["web", "x"]},
        {"question_pending": "yes"},
        {"question_pending": 1},
        {"expires_defaulted": "false"},
    ],
)
def test_a_malformed_value_counts_as_absent(raw):
    assert offer_data(Offer(data=raw)) == OfferData()


@pytest.mark.parametrize("raw", [None, [], "x", 7])
def test_a_column_that_is_no_object_reads_as_empty(raw):
    offer = Offer(data={})
    offer.data = raw  # as a row of another version (or a hand edit) may hold it
    assert offer_data(offer) == OfferData()


def test_unknown_keys_are_kept_and_defaults_left_out_on_save():
    offer = Offer(data={"later_key": {"n": 1}, "question_pending": True, "address": "bad"})
    data = set_offer_data(offer, question_pending=False, bound_to="feishu:ou_1")
    assert offer.data == {"later_key": {"n": 1}, "bound_to": "feishu:ou_1"}
    assert data.bound_to == "feishu:ou_1" and data.address is None
    set_offer_data(offer, address=("web", "cand1"))
    assert offer.data["address"] == ["web", "cand1"]  # JSON: a list


def test_writing_a_key_the_model_does_not_name_or_a_wrong_value_is_refused():
    offer = Offer(data={"bound_to": "web:x"})
    with pytest.raises(TypeError):
        set_offer_data(offer, adress=("web", "x"))
    with pytest.raises(ValueError):
        set_offer_data(offer, question_pending="yes")
    with pytest.raises(ValueError):
        set_offer_data(offer, address="web:x")
    assert offer.data == {"bound_to": "web:x"}  # nothing half-written


async def test_through_the_database_and_the_flows(k):
    """A key a newer version wrote survives the flow's own writes; the 我有问题 mark is
    set by the click and cleared by the question."""
    offer = await k.offer()
    assert offer_data(offer).address == ("web", "cand1")
    assert offer_data(offer).expires_defaulted
    await Offer.filter(id=offer.id).update(data={**offer.data, "later_key": [1, 2]})
    await k.clicks("question")
    row = await k.offer_row()
    assert offer_data(row).question_pending and row.data["later_key"] == [1, 2]
    await k.says("团建")  # "other" on its own: the question the click announced
    row = await k.offer_row()
    assert not offer_data(row).question_pending and "question_pending" not in row.data
    assert row.data["later_key"] == [1, 2] and offer_data(row).address == ("web", "cand1")
    [alert] = await k.alerts()
    assert alert.kind == "question"


async def test_a_malformed_mark_in_the_database_counts_as_absent(k):
    offer = await k.offer()
    await Offer.filter(id=offer.id).update(data={**offer.data, "question_pending": "yes"})
    assert await k.says("团建") == "offer_other"  # not taken as the announced question
    assert await k.alerts() == []
    assert "回复 1 接受、2 婉拒、3 提问" in k.texts()[-1]
