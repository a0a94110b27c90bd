"""HR sends an offer from the WeCom app chat: signed, encrypted callbacks, the summary
template card's 确认发送 button, the candidate's offer card. Only WeCom is a stand-in."""

from __future__ import annotations

import pytest

from bot.channels.wecom.render import decode_button_key
from bot.storage.models import Offer
from tests.helpers import drain
from tests.standins.wecom import card_click_xml, text_xml, wecom_env


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


def to(env, user: str) -> list[dict]:
    return [m for m in env.standin.delivered("message/send") if m["touser"] == user]


async def test_offer_in_the_wecom_app_chat_confirmed_by_card_button(env):
    assert (await env.callback(text_xml("hr_zhang", "/job 后端工程师 1人 深圳"))).status == 200
    line = "/offer 李四 wecom:lisi 后端工程师 30k 2027-01-04"
    assert (await env.callback(text_xml("hr_zhang", line))).status == 200
    await drain(env.rt)
    [card] = [m["template_card"] for m in to(env, "hr_zhang") if m["msgtype"] == "template_card"]
    keys = [decode_button_key(b["key"]) for b in card["button_list"]]
    assert [k["action"] for k in keys] == ["offer_confirm", "offer_edit", "offer_cancel"]
    assert not to(env, "lisi")

    code = env.standin.click()
    click = card_click_xml("hr_zhang", card["button_list"][0]["key"], card["task_id"], code)
    for _ in range(2):  # WeCom retries the callback: one offer
        assert (await env.callback(click)).status == 200
    await drain(env.rt)
    offer = await Offer.get()
    assert (offer.status, offer.channel) == ("sent", "wecom")
    sent = to(env, "lisi")
    assert [m["msgtype"] for m in sent].count("template_card") == 1
    assert f"#{offer.id}" in str(to(env, "hr_zhang")[-1])


async def test_a_wecom_user_who_is_no_admin_is_refused(env):
    assert (await env.callback(text_xml("lisi", "/offer 王五"))).status == 200
    await drain(env.rt)
    assert "[hr].admins" in str(to(env, "lisi")[-1])
    assert not await Offer.exists()
