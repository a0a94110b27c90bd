"""Reaching a candidate the ATS gave no platform id: a platform look-up by phone, else an
invite (six-digit code, link); binding by the code typed to the bot or by the link's
`enter_session` event; brute force and hostile input."""

from __future__ import annotations

import uuid

from bot.channels.base import Inbound
from bot.storage.models import Candidate, Conversation, Offer, Outbox, TimelineEvent, Timer
from tests.helpers import drain, sent_messages
from tests.offer_steps import api, candidate_texts, hire, said, send
from tests.standins.feishu import FeishuStandin

STRANGER = "visitor-7"


async def invited(rt) -> dict:
    async with api(rt) as client:
        answer = await hire(client, web_id=None)
    await drain(rt)
    return answer


def entered(code: str, user: str = STRANGER) -> Inbound:
    """What the WeCom kf channel (and the playground link) store for an opened entry link."""
    return Inbound(
        platform="web",
        event_id=uuid.uuid4().hex,
        sender_id=user,
        kind="event",
        event={"event": "enter_session", "scene_param": code},
    )


async def test_a_candidate_nobody_can_reach_gets_an_invite(rt):
    answer = await invited(rt)
    code = answer["invite_code"]
    assert len(code) == 6 and code.isdigit()
    assert answer["invite_url"] == f"/playground?code={code}"
    offer = await Offer.get(id=answer["id"])
    assert (offer.status, offer.stage) == ("sent", "awaiting_binding")
    assert offer.invite_code == code
    assert not await Outbox.filter(offer_id=offer.id, recipient_kind="user").exists()
    assert not await Timer.filter(offer_id=offer.id).exists()  # the clock starts on delivery


async def test_typing_the_code_binds_and_the_offer_follows(rt):
    answer = await invited(rt)
    await send(rt, said(f"您好，我的邀请码是：{answer['invite_code']}。", user=STRANGER))
    candidate = await Candidate.get(id=answer["candidate_id"])
    assert candidate.web_id == STRANGER
    conversation = await Conversation.get(platform="web", user_id=STRANGER)
    assert conversation.candidate_id == candidate.id
    [message] = await sent_messages("web", STRANGER)
    assert "后端工程师" in message["text"] and len(message["actions"]) == 3
    offer = await Offer.get(id=answer["id"])
    assert (offer.stage, offer.delivered_at is not None) == ("awaiting_reply", True)
    kinds = {t.kind for t in await Timer.filter(offer_id=offer.id, status="pending")}
    assert kinds == {"offer_remind", "offer_escalate", "offer_expire"}
    [bound] = await TimelineEvent.filter(offer_id=offer.id, kind="candidate_bound")
    assert bound.data == {"platform": "web", "via": "code"} and bound.actor == f"web:{STRANGER}"
    # From now on the candidate talks to the offer flow.
    await send(rt, said("1", user=STRANGER))
    assert (await Offer.get(id=offer.id)).status == "accepted"


async def test_full_width_digits_count(rt):
    answer = await invited(rt)
    wide = "".join(chr(ord(d) + 0xFEE0) for d in answer["invite_code"])
    await send(rt, said(wide, user=STRANGER))
    assert (await Candidate.get(id=answer["candidate_id"])).web_id == STRANGER


async def test_the_entry_link_binds_through_enter_session(rt):
    answer = await invited(rt)
    await send(rt, entered(answer["invite_code"]))
    assert (await Candidate.get(id=answer["candidate_id"])).web_id == STRANGER
    [bound] = await TimelineEvent.filter(offer_id=answer["id"], kind="candidate_bound")
    assert bound.data["via"] == "link"
    assert len(await sent_messages("web", STRANGER)) == 1


async def test_a_code_binds_once(rt):
    answer = await invited(rt)
    code = answer["invite_code"]
    await send(rt, said(code, user=STRANGER))
    await send(rt, said(code, user=STRANGER))
    assert "无需重复输入" in (await candidate_texts(STRANGER))[-1]
    await send(rt, said(code, user="someone-else"))
    assert "无效或已使用" in (await candidate_texts("someone-else"))[-1]
    assert (await Candidate.get(id=answer["candidate_id"])).web_id == STRANGER
    assert (await Conversation.get(platform="web", user_id="someone-else")).candidate_id is None
    assert len(await sent_messages("web", STRANGER)) == 2  # the offer once, then "done"


async def test_wrong_codes_are_refused_and_guessing_is_locked_out(rt):
    answer = await invited(rt)
    wrong = f"{(int(answer['invite_code']) + 1) % 1_000_000:06d}"
    for _ in range(5):
        await send(rt, said(wrong, user=STRANGER))
    assert all("无效或已使用" in t for t in await candidate_texts(STRANGER))
    await send(rt, said(answer["invite_code"], user=STRANGER))  # right, but too late
    assert "尝试次数有点多" in (await candidate_texts(STRANGER))[-1]
    assert (await Candidate.get(id=answer["candidate_id"])).web_id is None
    # Somebody else (a different conversation) is not locked out.
    await send(rt, said(answer["invite_code"], user="the-real-one"))
    assert (await Candidate.get(id=answer["candidate_id"])).web_id == "the-real-one"


async def test_a_withdrawn_offers_code_is_dead(rt):
    answer = await invited(rt)
    from tests.offer_steps import post

    async with api(rt) as client:
        await post(client, f"offers/{answer['id']}/withdraw")
    await send(rt, said(answer["invite_code"], user=STRANGER))
    assert "无效或已使用" in (await candidate_texts(STRANGER))[-1]
    assert (await Candidate.get(id=answer["candidate_id"])).web_id is None


async def test_hostile_or_unrelated_text_is_not_a_code(rt):
    answer = await invited(rt)
    code = answer["invite_code"]
    for text in (f"{code}' OR 1=1 --", f"{code}{code}", "1234567", "x" * 5000 + code, "<b>"):
        await send(rt, said(text, user=STRANGER))
    assert (await Candidate.get(id=answer["candidate_id"])).web_id is None
    # Unknown senders with no code get the friendly fallback, not a code error.
    assert all("无效" not in t for t in await candidate_texts(STRANGER))
    # An entry event with a bad scene_param is ignored quietly.
    await send(rt, entered("../../etc"))
    await send(rt, entered("999999" if code != "999999" else "000000"))
    assert len(await candidate_texts(STRANGER)) == 5


async def test_a_known_candidate_typing_six_digits_is_not_binding(rt):
    async with api(rt) as client:
        answer = await hire(client)  # reachable on web as cand1
    await drain(rt)
    await send(rt, said("202501"))
    offer = await Offer.get(id=answer["id"])
    assert offer.status == "sent"
    assert "回复 1 接受" in (await candidate_texts())[-1]  # the offer flow's nudge


async def test_a_platform_finds_the_candidate_by_phone(settings_factory, make_runtime):
    async with FeishuStandin(users={"13800138000": "ou_zhangsan"}) as feishu:
        rt = await make_runtime(settings_factory(feishu=_feishu(feishu)))
        async with api(rt) as client:
            answer = await hire(client, web_id=None, phone="+86 138-0013-8000")
        await drain(rt)
        assert "invite_code" not in answer or answer["invite_code"] is None
        candidate = await Candidate.get(id=answer["candidate_id"])
        assert candidate.feishu_open_id == "ou_zhangsan"
        sent = [m for m in feishu.messages if m.get("receive_id") == "ou_zhangsan"]
        assert len(sent) == 1
        offer = await Offer.get(id=answer["id"])
        assert offer.delivered_at is not None and offer.stage == "awaiting_reply"
        found = await TimelineEvent.filter(candidate_id=candidate.id, kind="identity_found")
        assert [e.data for e in found] == [{"platform": "feishu"}]


async def test_a_failing_look_up_falls_back_to_an_invite(settings_factory, make_runtime):
    async with FeishuStandin(users={"13800138000": "ou_zhangsan"}) as feishu:
        feishu.fail("batch_get_id", status=500, times=5)
        rt = await make_runtime(settings_factory(feishu=_feishu(feishu)))
        async with api(rt) as client:
            answer = await hire(client, web_id=None)
        assert len(answer["invite_code"]) == 6
        assert (await Candidate.get(id=answer["candidate_id"])).feishu_open_id is None


def _feishu(standin: FeishuStandin) -> dict:
    return {
        "enabled": True,
        "app_id": standin.app_id,
        "app_secret": standin.app_secret,
        "verification_token": "vtoken",
        "encrypt_key": "",
        "api_base_url": standin.url,
        "hr_chat_id": "oc_hr",
    }
