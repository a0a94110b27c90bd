"""Whole offer conversations on WeCom, through the real app, router, flows and worker:
the ATS creates the offer over the API, the candidate answers through signed callbacks
(app chat) or 微信客服 messages pulled by kf/sync_msg, the stand-in records what WeCom
would have shown."""

import hashlib
import io
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from pypdf import PdfWriter

from bot.channels.wecom.render import decode_button_key
from bot.storage.models import Alert, Conversation, Document, Offer, Outbox, Timer
from tests import offer_steps
from tests.helpers import drain
from tests.offer_steps import PHONE
from tests.standins.wecom import (
    card_click_xml,
    kf_enter_session,
    kf_event_xml,
    kf_media,
    kf_text,
    text_xml,
    wecom_env,
)


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def make_offer(env, **candidate) -> dict:
    """Requisition, candidate, application and a WeCom offer through the ATS API."""
    answer = await offer_steps.make_offer(
        env.client,
        requisition={"external_id": "req-be", "title": "后端工程师"},
        candidate={"external_id": "c-1", "name": "李四", "phone": PHONE, **candidate},
        channel="wecom",
    )
    await drain(env.rt)
    return answer


def robot_texts(env) -> str:
    return "\n".join(p["markdown"]["content"] for p in env.standin.delivered("webhook/send"))


# -- the app chat (candidate is a member) --------------------------------------------------


async def test_accept_by_button_in_the_app_chat(env):
    answer = await make_offer(env, wecom_user_id="lisi")
    sent = env.standin.delivered("message/send")
    assert {m["touser"] for m in sent} == {"lisi"}
    (card,) = [m["template_card"] for m in sent if m["msgtype"] == "template_card"]
    shown = [m["text"]["content"] for m in sent if m["msgtype"] == "text"]
    assert "后端工程师" in "".join(shown) + card.get("sub_title_text", "")
    actions = [decode_button_key(b["key"]) for b in card["button_list"]]
    assert [a["action"] for a in actions] == ["accept", "decline", "question"]

    env.standin.expire_tokens()  # WeCom drops the token mid-conversation
    code = env.standin.click()
    click = card_click_xml("lisi", card["button_list"][0]["key"], card["task_id"], code)
    for _ in range(2):  # WeCom retries the callback: one effect
        assert (await env.callback(click)).status == 200
    await drain(env.rt)

    offer = await Offer.get(id=answer["id"])
    assert offer.status == "accepted"
    (update,) = env.standin.delivered("message/update_template_card")
    assert update["response_code"] == code
    assert update["button"]["replace_name"].startswith("✅")
    after = env.standin.delivered("message/send")[len(sent) :]
    assert after and {m["touser"] for m in after} == {"lisi"}  # thanks, first document
    assert env.standin.tokens_issued == 2
    robot = robot_texts(env)
    assert "李四" in robot
    assert PHONE not in robot  # masked in the group


async def test_a_question_click_leaves_the_card_usable_and_accept_then_closes_it(env):
    answer = await make_offer(env, wecom_user_id="lisi")
    (card,) = [
        m["template_card"]
        for m in env.standin.delivered("message/send")
        if m["msgtype"] == "template_card"
    ]
    keys = {decode_button_key(b["key"])["action"]: b["key"] for b in card["button_list"]}
    code = env.standin.click()
    await env.callback(card_click_xml("lisi", keys["question"], card["task_id"], code))
    await drain(env.rt)
    assert env.standin.delivered("message/update_template_card") == []  # still usable
    code = env.standin.click()
    await env.callback(card_click_xml("lisi", keys["accept"], card["task_id"], code))
    await drain(env.rt)
    assert (await Offer.get(id=answer["id"])).status == "accepted"
    (update,) = env.standin.delivered("message/update_template_card")
    assert update["response_code"] == code
    assert update["button"]["replace_name"].startswith("✅ 已接受")


async def test_hesitation_in_words_alerts_hr_even_when_wecom_is_busy(env):
    answer = await make_offer(env, wecom_user_id="lisi")
    env.standin.fail("message/send", -1)
    env.standin.fail("webhook/send", 45009)
    assert (await env.callback(text_xml("lisi", "我再考虑一下，薪资能否再谈？"))).status == 200
    await drain(env.rt)
    offer = await Offer.get(id=answer["id"])
    assert (offer.status, offer.stage) == ("sent", "hesitating")
    assert "薪资能否再谈" in robot_texts(env)
    answers = [c.answer for c in env.standin.calls_to("message/send")]
    assert answers[-2:] == [-1, 0]  # the acknowledgement went out on the retry
    assert await Outbox.filter(platform="wecom", status__not="sent").count() == 0


# -- 微信客服 (candidate on personal WeChat) --------------------------------------------------


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


async def announce(env) -> None:
    token = hashlib.sha1(str(len(env.standin.calls)).encode()).hexdigest()
    assert (await env.callback(kf_event_xml(token))).status == 200
    await drain(env.rt)


async def test_invite_link_binding_accept_and_a_pdf_over_kf(env):
    answer = await make_offer(env)  # not a member, mobile unknown to WeCom
    assert env.standin.calls_to("user/getuserid")[0].body == {"mobile": PHONE}
    code = answer["invite_code"]
    link = urlparse(answer["invite_url"])
    assert parse_qs(link.query)["scene_param"] == [code]
    assert env.standin.calls_to("kf/sync_msg") == []

    # The candidate opens the link: enter_session with the code, and a welcome code.
    env.standin.queue_kf(kf_enter_session("wmCand", "k1", scene_param=code, welcome_code="WCk"))
    await announce(env)
    (welcome,) = env.standin.delivered("kf/send_msg_on_event")
    assert welcome["code"] == "WCk"
    assert welcome["msgtype"] == "msgmenu"  # the offer, with its 1/2/3 menu
    assert [i["click"]["id"] for i in welcome["msgmenu"]["list"]] == ["1", "2", "3"]
    assert "后端工程师" in welcome["msgmenu"]["head_content"]

    # A click on the menu arrives as text carrying the item id.
    env.standin.queue_kf(kf_text("wmCand", "接受", "k2", menu_id="1"))
    await announce(env)
    offer = await Offer.get(id=answer["id"])
    assert offer.status == "accepted"
    assert {m["touser"] for m in env.standin.delivered("kf/send_msg")} == {"wmCand"}
    # 微信客服 has no cards to update: nothing is queued for them (nor spends the budget).
    assert not await Outbox.filter(idempotency_key__startswith="card:").exists()

    # Documents: a PDF through kf is downloaded by the worker and stored.
    pdf = pdf_bytes()
    media_id = env.standin.add_media(pdf, "身份证正面.pdf", "application/pdf")
    env.standin.queue_kf(kf_media("wmCand", "file", media_id, "k3"))
    await announce(env)
    (doc,) = await Document.filter(candidate_id=offer.candidate_id)
    assert doc.sha256 == hashlib.sha256(pdf).hexdigest()
    assert doc.mime == "application/pdf"
    replies = [m.get("text", {}).get("content", "") for m in env.standin.delivered("kf/send_msg")]
    assert any("1/" in r for r in replies)  # progress "k/n"


async def test_a_reminder_due_after_the_kf_window_closed_goes_to_hr(env):
    answer = await make_offer(env)
    code = answer["invite_code"]
    env.standin.queue_kf(kf_enter_session("wmLate", "l1", scene_param=code, welcome_code="WCl"))
    await announce(env)
    kf_sent = len(env.standin.delivered("kf/send_msg"))
    assert env.standin.delivered("kf/send_msg_on_event")  # the offer went out as the welcome

    # Two days pass in silence: the reminder comes due after the 48 h window closed.
    await Conversation.filter(platform="wecom", user_id="kf:wmLate").update(
        last_inbound_at=env.rt.clock() - timedelta(hours=49)
    )
    remind = await Timer.get(offer_id=answer["id"], kind="offer_remind", status="pending")
    await Timer.filter(id=remind.id).update(due_at=env.rt.clock() - timedelta(seconds=1))
    await drain(env.rt)

    held = await Outbox.filter(platform="wecom", recipient_id="kf:wmLate", status="held")
    assert len(held) == 1
    assert held[0].last_error == "window_closed"
    assert len(env.standin.delivered("kf/send_msg")) == kf_sent  # nothing sent on kf
    alert = await Alert.get(kind="undeliverable", offer_id=answer["id"])
    assert held[0].payload["text"] in json.dumps(alert.data, ensure_ascii=False)
    assert held[0].payload["text"].split("\n")[0] in robot_texts(env)  # HR can send it
