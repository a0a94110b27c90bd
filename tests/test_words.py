"""How the bot's words read on a phone (docs/offer-flow.md#what-hr-sees): the usual
hesitation alert fits a phone screen on every platform, its heading is said once, money
is written one way everywhere. Rendered through the real paths: the ATS API, the
candidate's reply, the worker, the platform stand-ins."""

from __future__ import annotations

import math
import unicodedata

import pytest

from tests.helpers import drain, sent_messages
from tests.offer_steps import api, hire, said, send
from tests.standins.feishu import FeishuSender, FeishuStandin
from tests.standins.wecom import text_xml, wecom_env
from tests.test_feishu_offer import make_offer, to, words
from tests.test_feishu_webhook import EKEY, VTOKEN, feishu_config, post

PHONE_LINE = 22  # full-width characters a chat bubble on a phone holds per line
MAX_LINES = 12
HESITATION = "我再考虑一下，薪资还能再谈吗？"


def phone_lines(text: str) -> int:
    """Lines on a phone: each line wraps after PHONE_LINE full-width characters (a
    half-width one counts half)."""
    total = 0
    for line in text.splitlines():
        width = sum(1 if unicodedata.east_asian_width(c) in "WF" else 0.5 for c in line)
        total += max(1, math.ceil(width / PHONE_LINE))
    return total


def heading_once(text: str) -> None:
    assert text.count("候选人犹豫") == 1, text


@pytest.mark.parametrize(
    ("language", "words", "heading"),
    [
        ("zh", HESITATION, "候选人犹豫"),
        ("en", "I need to think about it, could the salary be higher?", "hesitating"),
    ],
)
async def test_the_hesitation_alert_fits_a_phone_in_the_playground(
    settings_factory, make_runtime, language, words, heading
):
    rt = await make_runtime(settings_factory(company={"language": language}))
    async with api(rt) as client:
        await hire(client)
    await drain(rt)
    await send(rt, said(words))
    (alert,) = [m for m in await sent_messages("web", "hr_group") if heading in m["text"]]
    shown = "\n".join(p for p in (alert["title"], alert["text"]) if p)
    assert words in shown
    assert shown.count(heading) == 1, shown
    assert phone_lines(shown) + 1 <= MAX_LINES, shown  # + the row of buttons


@pytest.fixture
async def feishu():
    async with FeishuStandin() as s:
        yield s


async def test_the_hesitation_alert_fits_a_phone_on_feishu(feishu, settings_factory, make_runtime):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    sender = FeishuSender(app_id=feishu.app_id, verification_token=VTOKEN, encrypt_key=EKEY)
    frt = await make_runtime(settings_factory(feishu=feishu_config(feishu)))
    async with TestClient(TestServer(build_app(frt))) as client:
        await make_offer(client, feishu_open_id="ou_zhang", phone="13800138000")
        await drain(frt)
        await post(client, sender, sender.message(open_id="ou_zhang", text=HESITATION))
        await drain(frt)
    (card,) = [m for m in to(feishu, "oc_hr") if "犹豫" in str(m["content"])]
    header = card["content"].get("header", {}).get("title", {}).get("content", "")
    shown = "\n".join(p for p in (header, words(card)) if p)
    heading_once(shown)
    assert phone_lines(shown) + 1 <= MAX_LINES, shown


async def test_the_hesitation_alert_fits_a_phone_on_wecom(settings_factory, make_runtime):
    from tests.test_wecom_conversation import make_offer as wecom_offer

    async with wecom_env(settings_factory, make_runtime) as env:
        await wecom_offer(env, wecom_user_id="lisi")
        assert (await env.callback(text_xml("lisi", HESITATION))).status == 200
        await drain(env.rt)
        posts = env.standin.delivered("webhook/send")
    (robot,) = [p["markdown"]["content"] for p in posts if "犹豫" in p["markdown"]["content"]]
    heading_once(robot)
    assert phone_lines(robot) <= MAX_LINES, robot


async def test_money_is_written_one_way_everywhere(rt):
    async with api(rt) as client:
        await hire(client, salary_monthly="26000")
    await drain(rt)
    card = (await sent_messages("web"))[0]["text"]
    assert "26,000 元" in card
    from tests.test_playground import SEND

    async with api(rt) as client:
        await client.post(SEND, json={"role": "hr", "text": "/history 张三"})
        await drain(rt)
    (history,) = [
        m["text"]
        for m in await sent_messages("web")
        if "#" in m["text"] and "历史" in m["text"] or "Offer #" in m["text"]
    ]
    assert "26,000 元" in history and "CNY" not in history
