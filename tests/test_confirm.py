"""Confirmation when unsure, on every channel: a decision the classifier is not sure of
does not move the offer; the bot asks for one tap or digit, and only that moves it.

Nothing is patched: the `cautious` fixture serves a model file the way `offerbot
train-intents` does (under the data dir), one whose bar for a sure decision cannot be
reached, so every decision in words is confirmed first. Buttons and the digits 1/2/3 are
always sure; the default model is sure of a plain "我接受这个offer"."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import HR_GROUP
from bot.channels.wecom.render import decode_button_key
from bot.flows.confirm import question_for
from bot.storage.models import Alert, Conversation, Offer, TimelineEvent
from bot.understanding.model import SHIPPED_PATH, IntentModel
from bot.understanding.training import served_model
from tests.helpers import drain, sent_messages
from tests.offer_steps import CANDIDATE, api, candidate_texts, clicked, hire, said, send
from tests.standins.feishu import EKEY, VTOKEN, FeishuSender, FeishuStandin, feishu_config
from tests.standins.wecom import card_click_xml, text_xml, wecom_env
from tests.test_feishu_offer import make_offer as make_feishu_offer
from tests.test_feishu_offer import to, words
from tests.test_feishu_webhook import buttons, post
from tests.test_wecom_conversation import make_offer as make_wecom_offer

ACCEPT = "行，那就这么定了"
DECLINE = "我还是不来了"


@pytest.fixture
def cautious(data_dir):
    """Serve a copy of the shipped model that is never sure of a decision."""
    model = IntentModel.load(SHIPPED_PATH)
    model.threshold = 1.01
    model.save(data_dir / "models" / "intents-0001-c0ffee.npz")
    assert served_model(data_dir).read(DECLINE).intent == "decline"
    assert not served_model(data_dir).read(DECLINE).sure


@pytest.fixture
async def unsure(cautious, rt):
    return rt


async def offered(rt) -> Offer:
    async with api(rt) as client:
        answer = await hire(client)
    await drain(rt)
    return await Offer.get(id=answer["id"])


async def last_to_candidate(user: str = CANDIDATE) -> dict:
    return (await sent_messages("web", user))[-1]


# -- the web channel (the playground's chat) --------------------------------------------------


async def test_an_unsure_accept_asks_and_the_digit_1_moves_the_offer(unsure):
    rt = unsure
    offer = await offered(rt)
    await send(rt, said(ACCEPT))
    assert (await Offer.get(id=offer.id)).status == "sent"
    question = await last_to_candidate()
    assert question["text"] == rt.catalog.t("offer.confirm.ask_accept")
    assert [(a["key"], a["command"]) for a in question["actions"]] == [
        ("accept", "1"),
        ("question", "3"),
    ]
    hr_before = len(await sent_messages("web", HR_GROUP))

    await send(rt, said("1"))
    offer = await Offer.get(id=offer.id)
    assert offer.status == "accepted"
    assert len(await sent_messages("web", HR_GROUP)) > hr_before  # HR told
    moved = await TimelineEvent.get(offer_id=offer.id, kind="offer_accepted")
    assert moved.data["via"] == "confirmed"
    conversation = await Conversation.get(platform="web", user_id=CANDIDATE)
    assert "confirm" not in conversation.context


async def test_the_confirm_button_moves_it_too(unsure):
    rt = unsure
    offer = await offered(rt)
    await send(rt, said(ACCEPT))
    await send(rt, clicked("accept", offer_id=offer.id))
    assert (await Offer.get(id=offer.id)).status == "accepted"


async def test_3_after_the_question_goes_to_hr_with_the_first_words(unsure):
    rt = unsure
    offer = await offered(rt)
    await send(rt, said(ACCEPT))
    await send(rt, said("3"))
    offer = await Offer.get(id=offer.id)
    assert (offer.status, offer.stage) == ("sent", "hesitating")
    alert = await Alert.get(offer_id=offer.id, kind="question")
    assert alert.data["replies"][-1]["text"] == ACCEPT


async def test_a_different_answer_is_handled_normally(unsure):
    rt = unsure
    offer = await offered(rt)
    await send(rt, said(ACCEPT))
    await send(rt, said("2"))  # the other decision, by digit: sure, so it is acted on
    assert (await Offer.get(id=offer.id)).status == "declined"


async def test_another_reply_in_words_is_read_afresh_and_the_question_forgotten(unsure):
    rt = unsure
    offer = await offered(rt)
    await send(rt, said(ACCEPT))
    await send(rt, said("我再考虑一下"))
    offer = await Offer.get(id=offer.id)
    assert (offer.status, offer.stage) == ("sent", "hesitating")
    conversation = await Conversation.get(platform="web", user_id=CANDIDATE)
    assert "confirm" not in conversation.context


async def test_an_acceptance_with_a_practical_question_is_not_asked_about(rt):
    offer = await offered(rt)
    await send(rt, said("接受offer，请问要带什么材料"))
    assert (await Offer.get(id=offer.id)).status == "accepted"


async def test_a_sure_accept_moves_at_once(rt):
    offer = await offered(rt)
    await send(rt, said("我接受这个offer"))
    assert (await Offer.get(id=offer.id)).status == "accepted"
    texts = await candidate_texts()
    assert rt.catalog.t("offer.confirm.ask_accept") not in texts


async def test_through_the_playground_page_the_question_has_buttons(unsure):
    rt = unsure
    offer = await offered(rt)
    async with api(rt) as client:
        for text in (ACCEPT, "1"):
            body = {"role": "candidate", "user": CANDIDATE, "text": text}
            resp = await client.post("/playground/api/send", json=body)
            assert resp.status == 202
            await drain(rt)
            if text == ACCEPT:
                assert (await Offer.get(id=offer.id)).status == "sent"
                history = await (
                    await client.get("/playground/api/history", params={"user": CANDIDATE})
                ).json()
                shown = [i for i in history["items"] if i["pane"] == "candidate"][-1]
                assert shown["text"] == rt.catalog.t("offer.confirm.ask_accept")
    assert (await Offer.get(id=offer.id)).status == "accepted"


async def test_an_unsure_decline_asks_then_2_declines_with_the_words_for_hr(cautious, rt):
    offer = await offered(rt)
    await send(rt, said(DECLINE))
    assert (await Offer.get(id=offer.id)).status == "sent"
    assert (await last_to_candidate())["text"] == rt.catalog.t("offer.confirm.ask_decline")
    assert not await Alert.filter(offer_id=offer.id, kind="decline").exists()

    await send(rt, said("2"))
    assert (await Offer.get(id=offer.id)).status == "declined"
    alert = await Alert.get(offer_id=offer.id, kind="decline")
    assert alert.data["replies"][-1]["text"] == DECLINE  # what they wrote, not "2"
    assert rt.catalog.t("offer.ask_decline_reason") in (await candidate_texts())[-1]


async def test_after_accepting_an_unsure_no_asks_before_it_becomes_a_renege(cautious, rt):
    offer = await offered(rt)
    await send(rt, said("1"))
    assert (await Offer.get(id=offer.id)).status == "accepted"
    await send(rt, said(DECLINE))
    assert (await Offer.get(id=offer.id)).status == "accepted"
    assert (await last_to_candidate())["text"] == rt.catalog.t("offer.confirm.ask_renege")
    await send(rt, said("确认"))  # while documents are asked for, digits name items
    assert (await Offer.get(id=offer.id)).status == "reneged"


async def test_feishu_unsure_decline_then_the_digit_2(
    cautious, fs, fsender, settings_factory, make_runtime
):
    rt, client = await feishu_client(fs, settings_factory, make_runtime)
    async with client:
        offer = await make_feishu_offer(client, feishu_open_id="ou_zhang")
        await drain(rt)
        await post(client, fsender, fsender.message(open_id="ou_zhang", text=DECLINE))
        await drain(rt)
        assert (await Offer.get(id=offer["id"])).status == "sent"
        assert rt.catalog.t("offer.confirm.ask_decline") in words(to(fs, "ou_zhang")[-1])
        await post(client, fsender, fsender.message(open_id="ou_zhang", text="2"))
        await drain(rt)
        assert (await Offer.get(id=offer["id"])).status == "declined"


# -- WeCom (signed, encrypted callbacks from the app chat) ------------------------------------


@pytest.fixture
async def wecom_unsure(cautious, settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


@pytest.fixture
async def wecom_sure(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def test_wecom_unsure_accept_asks_with_a_card_then_1_moves_it(wecom_unsure):
    env = wecom_unsure
    answer = await make_wecom_offer(env, wecom_user_id="lisi")
    before = len(env.standin.delivered("message/send"))
    assert (await env.callback(text_xml("lisi", ACCEPT))).status == 200
    await drain(env.rt)
    assert (await Offer.get(id=answer["id"])).status == "sent"
    asked = env.standin.delivered("message/send")[before:]
    cards = [m["template_card"] for m in asked if m["msgtype"] == "template_card"]
    shown = "".join(m.get("text", {}).get("content", "") for m in asked) + "".join(
        c["main_title"]["title"] + c.get("sub_title_text", "") for c in cards
    )
    assert rt_text(env, "offer.confirm.ask_accept") in shown
    (card,) = cards
    keys = [decode_button_key(b["key"])["action"] for b in card["button_list"]]
    assert keys == ["accept", "question"]

    assert (await env.callback(text_xml("lisi", "1"))).status == 200
    await drain(env.rt)
    assert (await Offer.get(id=answer["id"])).status == "accepted"


async def test_wecom_the_confirm_card_button_moves_it(wecom_unsure):
    env = wecom_unsure
    answer = await make_wecom_offer(env, wecom_user_id="lisi")
    before = len(env.standin.delivered("message/send"))
    await env.callback(text_xml("lisi", ACCEPT))
    await drain(env.rt)
    sent = env.standin.delivered("message/send")[before:]
    (card,) = [m["template_card"] for m in sent if m["msgtype"] == "template_card"]
    code = env.standin.click()
    click = card_click_xml("lisi", card["button_list"][0]["key"], card["task_id"], code)
    assert (await env.callback(click)).status == 200
    await drain(env.rt)
    assert (await Offer.get(id=answer["id"])).status == "accepted"


async def test_wecom_a_sure_accept_moves_at_once(wecom_sure):
    env = wecom_sure
    answer = await make_wecom_offer(env, wecom_user_id="lisi")
    await env.callback(text_xml("lisi", "我接受这个offer"))
    await drain(env.rt)
    assert (await Offer.get(id=answer["id"])).status == "accepted"


def rt_text(env, key: str) -> str:
    return env.rt.catalog.t(key)


# -- Feishu (encrypted events, cards with buttons) --------------------------------------------


@pytest.fixture
async def fs():
    async with FeishuStandin() as s:
        yield s


@pytest.fixture
def fsender(fs) -> FeishuSender:
    return FeishuSender(app_id=fs.app_id, verification_token=VTOKEN, encrypt_key=EKEY)


async def feishu_client(fs, settings_factory, make_runtime, **sections):
    rt = await make_runtime(settings_factory(feishu=feishu_config(fs), **sections))
    return rt, TestClient(TestServer(build_app(rt)))


async def test_feishu_unsure_accept_asks_with_a_card_then_its_button_moves_it(
    cautious, fs, fsender, settings_factory, make_runtime
):
    rt, client = await feishu_client(fs, settings_factory, make_runtime)
    async with client:
        offer = await make_feishu_offer(client, feishu_open_id="ou_zhang")
        await drain(rt)
        before = len(to(fs, "ou_zhang"))
        assert (
            await post(client, fsender, fsender.message(open_id="ou_zhang", text=ACCEPT))
        ).status == 200
        await drain(rt)
        assert (await Offer.get(id=offer["id"])).status == "sent"
        (card,) = to(fs, "ou_zhang")[before:]
        assert rt.catalog.t("offer.confirm.ask_accept") in words(card)
        values = [b["behaviors"][0]["value"] for b in buttons(card["content"])]
        assert [v["action"] for v in values] == ["accept", "question"]

        click = fsender.click(open_id="ou_zhang", value=values[0], message_id=card["message_id"])
        assert (await post(client, fsender, click)).status == 200
        await drain(rt)
        assert (await Offer.get(id=offer["id"])).status == "accepted"


async def test_feishu_a_sure_accept_moves_at_once(fs, fsender, settings_factory, make_runtime):
    rt, client = await feishu_client(fs, settings_factory, make_runtime)
    async with client:
        offer = await make_feishu_offer(client, feishu_open_id="ou_zhang")
        await drain(rt)
        await post(client, fsender, fsender.message(open_id="ou_zhang", text="我接受这个offer"))
        await drain(rt)
        assert (await Offer.get(id=offer["id"])).status == "accepted"


def test_an_acceptance_that_names_a_doubt_is_asked_about_but_not_a_practical_question():
    offer = Offer(status="sent", stage="awaiting_reply")
    assert question_for(offer, "accept", True, ("overtime",)) == "accept"
    assert question_for(offer, "accept", True, ("process",)) is None
    assert question_for(offer, "decline", True, ("salary",)) is None  # a reason, not a doubt
    assert question_for(offer, "hesitate", False) is None  # nothing would move
    assert question_for(Offer(status="accepted"), "decline", False) == "renege"
    assert question_for(Offer(status="declined"), "accept", False) is None
