"""Cards that tell the truth (docs/offer-flow.md#cards-after-a-decision): after a decision
every card shows the outcome and keeps only the buttons that still make sense — in the
playground (state from the server: what a reloaded page reads), on Feishu (PATCH) and
WeCom (update_template_card, in tests/test_wecom_conversation.py)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import HR_GROUP
from bot.storage.models import Alert, Offer
from tests.helpers import drain, sent_messages
from tests.offer_steps import CANDIDATE, hire, said, send
from tests.test_feishu_offer import make_offer, to, words
from tests.test_feishu_webhook import buttons, post

SEND = "/playground/api/send"
HISTORY = "/playground/api/history"


@pytest.fixture
async def client(rt):
    async with TestClient(TestServer(build_app(rt))) as c:
        yield c


async def page(client, user: str = CANDIDATE) -> list[dict]:
    """What a freshly loaded playground page shows: each card as its latest replacement
    says (the page puts a replacement in place of the card it names)."""
    items = (await (await client.get(HISTORY, params={"user": user})).json())["items"]
    shown: dict[str, dict] = {}
    for item in items:
        target = f"out:{item['replaces']}" if item.get("replaces") else item["id"]
        if target in shown and item.get("replaces"):
            shown[target] = {**item, "id": target}
        else:
            shown[item["id"]] = item
    return list(shown.values())


def cards(items: list[dict], pane: str, key: str) -> list[dict]:
    return [
        i for i in items if i["pane"] == pane and key in {a["key"] for a in i.get("actions", [])}
    ] or [i for i in items if i["pane"] == pane and i.get("replaces")]


async def click(client, rt, role: str, **action) -> None:
    body = {"role": role, "action": action}
    if role == "candidate":
        body["user"] = CANDIDATE
    assert (await client.post(SEND, json=body)).status == 202
    await drain(rt)


async def offer_card(client) -> dict:
    """The offer message's card as the page shows it now."""
    (card,) = [i for i in await page(client) if ":message:" in i["id"]]
    return card


async def test_after_accepting_the_reloaded_card_shows_the_outcome_and_no_buttons(client, rt):
    offer = await hire(client)
    await drain(rt)
    assert {a["key"] for a in (await offer_card(client))["actions"]} == {
        "accept",
        "decline",
        "question",
    }
    await click(client, rt, "candidate", action="accept", offer_id=offer["id"])
    card = await offer_card(client)
    assert card["actions"] == []
    assert card["text"].splitlines()[-1].startswith("✅ 已接受")
    assert "25,000" in card["text"]  # the card itself stays readable


async def test_a_question_leaves_accept_and_decline_usable(client, rt):
    offer = await hire(client)
    await drain(rt)
    await click(client, rt, "candidate", action="question", offer_id=offer["id"])
    card = await offer_card(client)
    assert {a["key"] for a in card["actions"]} >= {"accept", "decline"}
    await click(client, rt, "candidate", action="accept", offer_id=offer["id"])
    assert (await Offer.get(id=offer["id"])).status == "accepted"
    assert (await offer_card(client))["actions"] == []


async def test_a_declined_offer_and_its_reason_menu_close_on_the_reload(client, rt):
    offer = await hire(client)
    await drain(rt)
    await click(client, rt, "candidate", action="decline", offer_id=offer["id"])
    card = await offer_card(client)
    assert card["actions"] == [] and "已婉拒" in card["text"]
    menu = [
        i
        for i in await page(client)
        if any(a["key"].startswith("reason:") for a in i.get("actions", []))
    ]
    assert len(menu) == 1
    await click(client, rt, "candidate", action="reason:salary", offer_id=offer["id"])
    (menu,) = [i for i in await page(client) if "已记录原因" in i["text"]]
    assert menu["actions"] == [] and "薪资" in menu["text"].splitlines()[-1]


async def test_claiming_keeps_resolve_and_shows_who_and_when(client, rt):
    offer = await hire(client)
    await drain(rt)
    await send(rt, said("我再考虑一下，薪资还能再谈吗？"))
    alert = await Alert.get(offer_id=offer["id"])
    await click(client, rt, "hr", action="claim", alert_id=alert.id)
    items = [i for i in await page(client) if i["pane"] == "hr"]
    (card,) = [i for i in items if f"#{alert.id}" in i["text"] and i.get("replaces")]
    keys = [a["key"] for a in card["actions"]]
    assert "claim" not in keys and "resolve" in keys
    assert card["text"].splitlines()[-1].startswith("🙋 HR 已认领")

    await click(client, rt, "hr", action="resolve", alert_id=alert.id)
    items = [i for i in await page(client) if i["pane"] == "hr"]
    (card,) = [i for i in items if f"#{alert.id}" in i["text"] and i.get("replaces")]
    assert not {"claim", "resolve"} & {a["key"] for a in card["actions"]}
    assert "已处理" in card["text"].splitlines()[-1]
    assert (await Alert.get(id=alert.id)).status == "resolved"


async def test_a_click_echoes_the_buttons_words_after_a_reload(client, rt):
    offer = await hire(client)
    await drain(rt)
    await click(client, rt, "candidate", action="question", offer_id=offer["id"])
    (echo,) = [i for i in await page(client) if i["dir"] == "in"]
    assert echo["label"] == "我有问题"


async def test_a_typed_decision_closes_the_card_too(client, rt):
    offer = await hire(client)
    await drain(rt)
    await send(rt, said("好的，我接受这个offer！"))
    assert (await Offer.get(id=offer["id"])).status == "accepted"
    assert (await offer_card(client))["actions"] == []


# -- Feishu ------------------------------------------------------------------------------------


# The Feishu fixtures (standin, sender, frt, fclient) are tests/conftest.py's.


def value_of(card: dict, key: str) -> dict:
    return next(
        b["behaviors"][0]["value"]
        for b in buttons(card["content"])
        if b["behaviors"][0]["value"]["action"] == key
    )


async def test_feishu_cards_are_replaced_by_the_outcome(fclient, frt, standin, sender):
    await make_offer(fclient, feishu_open_id="ou_zhang", phone="13800138000")
    await drain(frt)
    [card] = [m for m in to(standin, "ou_zhang") if m["msg_type"] == "interactive"]
    question = value_of(card, "question")
    await post(
        fclient,
        sender,
        sender.click(open_id="ou_zhang", value=question, message_id=card["message_id"]),
    )
    await drain(frt)
    assert standin.patches == []  # a question changes nothing on the card
    accept = value_of(card, "accept")
    await post(
        fclient,
        sender,
        sender.click(open_id="ou_zhang", value=accept, message_id=card["message_id"]),
    )
    await drain(frt)
    (patch,) = [p for p in standin.patches if p["message_id"] == card["message_id"]]
    assert buttons(patch["content"]) == []
    assert "✅ 已接受" in words({"msg_type": "interactive", "content": patch["content"]})


async def test_feishu_alert_card_shows_who_claimed_it(fclient, frt, standin, sender):
    await make_offer(fclient, feishu_open_id="ou_zhang", phone="13800138000")
    await drain(frt)
    reply = sender.message(open_id="ou_zhang", text="我再考虑一下，薪资还能再谈吗？")
    await post(fclient, sender, reply)
    await drain(frt)
    alert_card = next(
        m for m in to(standin, "oc_hr") if m["msg_type"] == "interactive" and "claim" in str(m)
    )
    claim = value_of(alert_card, "claim")
    click = sender.click(
        open_id="ou_hr1", value=claim, message_id=alert_card["message_id"], chat_id="oc_hr"
    )
    await post(fclient, sender, click)
    await drain(frt)
    (patch,) = [p for p in standin.patches if p["message_id"] == alert_card["message_id"]]
    keys = [b["behaviors"][0]["value"]["action"] for b in buttons(patch["content"])]
    assert "resolve" in keys and "claim" not in keys
    assert "已认领" in words({"msg_type": "interactive", "content": patch["content"]})
    assert HR_GROUP  # the group card, not a private one


async def test_an_update_to_a_claimed_alert_has_no_claim_button(client, rt):
    offer = await hire(client)
    await drain(rt)
    await send(rt, said("我再考虑一下，薪资还能再谈吗？"))
    alert = await Alert.get(offer_id=offer["id"])
    await click(client, rt, "hr", action="claim", alert_id=alert.id)
    await send(rt, said("另外加班多吗？"))
    assert (await Alert.get(id=alert.id)).updates == 1
    update = [m for m in await sent_messages("web", HR_GROUP) if "加班多吗" in m["text"]][-1]
    keys = [a["key"] for a in update["actions"]]
    assert "claim" not in keys and "resolve" in keys
