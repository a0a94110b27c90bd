"""A whole offer conversation on Feishu: ATS API → card in Feishu → click or text reply →
worker → answers and HR alerts in the Feishu HR group. Only the platform is a stand-in."""

from bot.storage.models import Alert, Outbox
from tests import offer_steps
from tests.helpers import auth, drain
from tests.standins.feishu import FeishuStandin
from tests.test_feishu_webhook import buttons, post


async def api(client, path: str, body: dict) -> dict:
    resp = await client.post(f"/api/v1/{path}", json=body, headers=auth())
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def make_offer(client, **person) -> dict:
    return await offer_steps.make_offer(
        client,
        requisition={"external_id": "req-be", "title": "后端工程师"},
        candidate={"name": "张三", **person},
        salary_monthly="30000",
        channel="feishu",
    )


def to(standin: FeishuStandin, receive_id: str) -> list[dict]:
    return [m for m in standin.messages if m.get("receive_id") == receive_id]


def words(message: dict) -> str:
    content = message["content"]
    if message["msg_type"] == "text":
        return content["text"]
    return "\n".join(e.get("content", "") for e in content["body"]["elements"])


async def offer_status(client, offer_id: int) -> str:
    resp = await client.get(f"/api/v1/offers/{offer_id}", headers=auth())
    return (await resp.json())["status"]


async def test_offer_accepted_with_a_card_click(fclient, frt, standin, sender):
    offer = await make_offer(fclient, feishu_open_id="ou_zhang", phone="13800138000")
    await drain(frt)
    [card] = [m for m in to(standin, "ou_zhang") if m["msg_type"] == "interactive"]
    labels = [b["behaviors"][0]["value"]["action"] for b in buttons(card["content"])]
    assert labels == ["accept", "decline", "question"]
    accept = buttons(card["content"])[0]["behaviors"][0]["value"]

    click = sender.click(open_id="ou_zhang", value=accept, message_id=card["message_id"])
    resp = await post(fclient, sender, click)
    answer = await resp.json()
    assert answer["toast"]["type"] == "success"
    assert buttons(answer["card"]["data"]) == []
    await drain(frt)

    assert await offer_status(fclient, offer["id"]) == "accepted"
    after_click = to(standin, "ou_zhang")[1:]
    assert after_click, "the candidate is thanked in Feishu"
    hr = to(standin, "oc_hr")
    assert hr, "HR hears about the acceptance in the Feishu HR group"
    assert "13800138000" not in "".join(words(m) for m in hr)  # phone masked in the group


async def test_hesitant_text_reply_alerts_hr_who_claim_it_from_the_card(
    fclient, frt, standin, sender
):
    offer = await make_offer(fclient, feishu_open_id="ou_zhang", phone="13800138000")
    await drain(frt)
    reply = sender.message(open_id="ou_zhang", text="我再考虑一下，薪资还能再谈吗？")
    assert (await post(fclient, sender, reply)).status == 200
    await drain(frt)

    assert await offer_status(fclient, offer["id"]) == "sent"
    assert len(to(standin, "ou_zhang")) == 2  # the offer card, then a warm acknowledgement
    alert_cards = [m for m in to(standin, "oc_hr") if m["msg_type"] == "interactive"]
    alert_card = next(
        m for m in alert_cards if "claim" in str(buttons(m["content"]))
    )  # claim/resolve buttons
    assert "薪资还能再谈" in words(alert_card)
    assert "13800138000" not in words(alert_card)
    claim = next(
        b["behaviors"][0]["value"]
        for b in buttons(alert_card["content"])
        if b["behaviors"][0]["value"]["action"] == "claim"
    )
    click = sender.click(
        open_id="ou_hr1", value=claim, message_id=alert_card["message_id"], chat_id="oc_hr"
    )
    answer = await (await post(fclient, sender, click)).json()
    assert [b["behaviors"][0]["value"]["action"] for b in buttons(answer["card"]["data"])] == [
        "resolve",
        "correct",  # the alert came from the candidate's words: HR may still relabel them
    ]
    await drain(frt)
    alert = await Alert.get(id=claim["alert_id"])
    assert (alert.status, alert.claimed_by) == ("claimed", "feishu:ou_hr1")
    # then the clicked card itself is updated (PATCH by its message id): who has it
    [patch] = standin.patches
    assert patch["message_id"] == alert_card["message_id"] and "ou_hr1" in str(patch["content"])
    assert not await Outbox.filter(status="failed").exists()


async def test_candidate_found_by_mobile_gets_the_offer(fclient, frt, standin):
    standin.users = {"13900139000": "ou_found"}
    await make_offer(fclient, phone="+86 139-0013-9000")
    await drain(frt)
    assert [m["msg_type"] for m in to(standin, "ou_found")] == ["interactive"]


async def test_unreachable_candidate_becomes_an_hr_alert_with_the_text(fclient, frt, standin):
    standin.unreachable["ou_outside"] = (230013, "Bot has NO availability to this user.")
    offer = await make_offer(fclient, feishu_open_id="ou_outside", phone="13700137000")
    await drain(frt)
    failed = await Outbox.filter(offer_id=offer["id"], recipient_id="ou_outside").first()
    assert failed.status == "failed" and failed.last_error.startswith("230013")
    assert await Alert.filter(offer_id=offer["id"], kind="undeliverable").exists()
    hr_words = "".join(words(m) for m in to(standin, "oc_hr"))
    offer_text = failed.payload["text"]
    assert offer_text.splitlines()[0] in hr_words  # HR can pass the offer on by hand
