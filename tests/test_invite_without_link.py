"""With WeCom on and no 微信客服 account there is no link a candidate can use: the offer's
answer carries the invite code and the text HR sends, and no `/playground` link (see
docs/privacy.md)."""

from __future__ import annotations

import pytest

from bot.storage.models import Offer
from tests.helpers import auth, drain
from tests.offer_steps import make_offer
from tests.standins.wecom import wecom_env


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime, wecom={"kf_open_kfid": ""}) as e:
        yield e


async def test_wecom_without_kf_answers_the_code_and_text_and_no_playground_link(env):
    client = env.client
    answer = await make_offer(
        client,
        requisition={"external_id": "req-be", "title": "后端工程师"},
        candidate={"external_id": "c-1", "name": "李四"},
    )
    await drain(env.rt)
    code = answer["invite_code"]
    assert len(code) == 6 and code.isdigit()
    assert answer.get("invite_url") is None
    assert code in answer["invite_text"] and "playground" not in answer["invite_text"]
    assert (await Offer.get(id=answer["id"])).invite_url is None
    got = await client.get(f"/api/v1/offers/{answer['id']}", headers=auth())
    assert got.status == 200 and (await got.json())["invite_url"] is None
