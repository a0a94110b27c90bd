"""HR sends an offer from a private Feishu chat with the bot: signed, encrypted events
into /feishu/events, the summary card's 确认发送 button clicked, and the candidate (found
by mobile) gets the offer card. Only Feishu is a stand-in."""

from __future__ import annotations

from bot.storage.models import Offer
from tests.helpers import drain
from tests.standins.feishu import FeishuStandin
from tests.test_feishu_webhook import buttons, post

# The Feishu fixtures (standin, sender, frt, fclient) are tests/conftest.py's.


def to(standin: FeishuStandin, receive_id: str) -> list[dict]:
    return [m for m in standin.messages if m.get("receive_id") == receive_id]


def words(message: dict) -> str:
    content = message["content"]
    if message["msg_type"] == "text":
        return content["text"]
    return "\n".join(e.get("content", "") for e in content["body"]["elements"])


async def say(fclient, frt, sender, text: str, open_id: str = "ou_hr1") -> None:
    resp = await post(fclient, sender, sender.message(open_id=open_id, text=text))
    assert resp.status == 200
    await drain(frt)


async def test_one_line_offer_confirmed_by_button_reaches_the_candidate(
    fclient, frt, standin, sender
):
    standin.users = {"13900139000": "ou_found"}
    await say(fclient, frt, sender, "/job 前端工程师 2人 急 上海")
    await say(fclient, frt, sender, "/offer 王五 13900139000 前端工程师 2.5万 2027-01-04")
    cards = [m for m in to(standin, "ou_hr1") if m["msg_type"] == "interactive"]
    summary = cards[-1]
    assert "25,000" in words(summary) and "139****9000" in words(summary)
    confirm = buttons(summary["content"])[0]["behaviors"][0]["value"]
    assert confirm["action"] == "offer_confirm"
    assert not to(standin, "ou_found") and not await Offer.exists()

    click = sender.click(open_id="ou_hr1", value=confirm, message_id=summary["message_id"])
    assert (await post(fclient, sender, click)).status == 200
    await drain(frt)
    offer = await Offer.get()
    assert offer.status == "sent"
    [card] = to(standin, "ou_found")
    assert card["msg_type"] == "interactive" and "25,000" in words(card)
    done = to(standin, "ou_hr1")[-1]
    assert f"#{offer.id}" in words(done) and "王五" in words(done)


async def test_guided_offer_in_feishu_words_and_a_non_admin_is_refused(
    fclient, frt, standin, sender
):
    await say(fclient, frt, sender, "/offer", open_id="ou_stranger")
    assert "[hr].admins" in words(to(standin, "ou_stranger")[-1])
    await say(fclient, frt, sender, "/offer 赵六")
    assert "赵六" in words(to(standin, "ou_hr1")[-1])  # asks for the contact
    for text in ("feishu:ou_zhao", "测试工程师", "两万", "20k", "下周一", "默认", "无"):
        await say(fclient, frt, sender, text)
    summary = to(standin, "ou_hr1")[-1]
    assert "20,000" in words(summary) and "测试工程师" in words(summary)
    await say(fclient, frt, sender, "确认")
    offer = await Offer.get()
    assert offer.channel == "feishu"
    assert [m["msg_type"] for m in to(standin, "ou_zhao")] == ["interactive"]


def form_of(card: dict) -> dict:
    [form] = [e for e in card["body"]["elements"] if e["tag"] == "form"]
    return form


async def test_on_feishu_the_first_question_comes_with_a_form(fclient, frt, standin, sender):
    standin.users = {"13900139000": "ou_found"}
    await say(fclient, frt, sender, "/offer")
    card = to(standin, "ou_hr1")[-1]
    assert card["msg_type"] == "interactive"
    form = form_of(card["content"])
    names = [e["name"] for e in form["elements"] if e["tag"] == "input"]
    assert names == ["name", "contact", "job", "salary", "start_date", "deadline", "expect"]
    [submit] = [e for e in form["elements"] if e["tag"] == "button"]
    assert submit["form_action_type"] == "submit"

    value = submit["behaviors"][0]["value"]
    click = sender.click(open_id="ou_hr1", value=value, message_id=card["message_id"])
    click["event"]["action"].update(
        name=submit["name"],
        form_value={
            "name": "王五",
            "contact": "13900139000",
            "job": "前端工程师",
            "salary": "两万",  # not readable: asked again in words
            "start_date": "2027-01-04",
            "deadline": "",
            "expect": "",
        },
    )
    assert (await post(fclient, sender, click)).status == 200
    await drain(frt)
    again = words(to(standin, "ou_hr1")[-1])
    assert again.startswith(frt.catalog.t("commands.offer.bad_salary"))
    await say(fclient, frt, sender, "20k")
    summary = to(standin, "ou_hr1")[-1]
    assert "20,000" in words(summary) and "王五" in words(summary)
    await say(fclient, frt, sender, "确认")
    assert (await Offer.get()).status == "sent"
    assert [m["msg_type"] for m in to(standin, "ou_found")] == ["interactive"]


async def test_a_form_submit_with_hostile_values_is_read_like_typed_answers(
    fclient, frt, standin, sender
):
    await say(fclient, frt, sender, "/offer")
    card = to(standin, "ou_hr1")[-1]
    [submit] = [e for e in form_of(card["content"])["elements"] if e["tag"] == "button"]
    click = sender.click(
        open_id="ou_hr1", value=submit["behaviors"][0]["value"], message_id=card["message_id"]
    )
    click["event"]["action"]["form_value"] = {"name": "x" * 5000, "salary": ["25k"], "zz": 1}
    assert (await post(fclient, sender, click)).status == 200
    await drain(frt)
    assert words(to(standin, "ou_hr1")[-1]).startswith(frt.catalog.t("commands.offer.bad_name"))
    assert not await Offer.exists()
