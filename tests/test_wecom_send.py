"""Sending through the outbox and worker to the WeCom stand-in: bodies, cards, tokens,
errors, HR group pacing, media and identity."""

import asyncio
import io
import re

import pytest
from PIL import Image

from bot.channels.base import (
    Action,
    MediaRef,
    Outgoing,
    PermanentError,
    Recipient,
    TransientError,
)
from bot.channels.wecom.render import decode_button_key
from bot.storage.models import KeyValue, Outbox
from tests.helpers import drain
from tests.standins.wecom import AGENT_ID, OPEN_KFID, wecom_env

OFFER_ACTIONS = (
    Action(key="accept", label="接受", command="1", value={"offer_id": 7}, style="primary"),
    Action(key="decline", label="拒绝", command="2", value={"offer_id": 7}, style="danger"),
    Action(key="question", label="我有疑问", command="3", value={"offer_id": 7}),
)


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def queue(rt, address: str, message: Outgoing, key: str) -> int:
    fx = rt.fx()
    row = await fx.to_user("wecom", address, message, key)
    await fx.flush()
    return row.id


async def queue_hr(rt, message: Outgoing, key: str) -> None:
    fx = rt.fx()
    await fx.to_hr(message, key)
    await fx.flush()


# -- app members ---------------------------------------------------------------------------


async def test_text_to_a_member_uses_duplicate_check(env):
    pk = await queue(env.rt, "zhangsan", Outgoing(text="您好"), "k-text")
    await drain(env.rt)
    (body,) = env.standin.delivered("message/send")
    assert body == {
        "touser": "zhangsan",
        "agentid": AGENT_ID,
        "msgtype": "text",
        "text": {"content": "您好"},
        "enable_duplicate_check": 1,
        "duplicate_check_interval": 1800,
    }
    row = await Outbox.get(id=pk)
    assert row.status == "sent"
    assert row.platform_message_id.startswith("msg-")
    assert env.standin.tokens_issued == 1


async def test_buttons_become_a_template_card_with_decodable_keys(env):
    message = Outgoing(title="Offer 待确认", text="后端工程师，月薪 25000", actions=OFFER_ACTIONS)
    pk = await queue(env.rt, "lisi", message, "offer:7:send:abc")
    await drain(env.rt)
    (body,) = env.standin.delivered("message/send")
    card = body["template_card"]
    assert body["msgtype"] == "template_card"
    assert body["enable_duplicate_check"] == 1
    assert card["card_type"] == "button_interaction"
    assert card["main_title"] == {"title": "Offer 待确认"}
    assert card["sub_title_text"] == "后端工程师，月薪 25000"
    assert re.fullmatch(r"[0-9a-f]{8}-offer_7_send_abc-[0-9a-f]{16}", card["task_id"])
    assert [b["text"] for b in card["button_list"]] == ["接受", "拒绝", "我有疑问"]
    assert [b["style"] for b in card["button_list"]] == [1, 3, 2]
    actions = [decode_button_key(b["key"]) for b in card["button_list"]]
    assert actions[0] == {"action": "accept", "offer_id": 7}
    # The send-time response code is the message id: what `replaces` takes later.
    assert (await Outbox.get(id=pk)).platform_message_id.startswith("send-rc-")


async def test_a_text_too_long_for_the_card_goes_first_in_full(env):
    long_text = "欢迎加入！" + "入职须知。" * 40
    await queue(env.rt, "lisi", Outgoing(text=long_text, actions=OFFER_ACTIONS), "k-long")
    await drain(env.rt)
    first, second = env.standin.delivered("message/send")
    assert first["msgtype"] == "text"
    assert first["text"]["content"] == long_text
    assert second["msgtype"] == "template_card"
    assert "sub_title_text" not in second["template_card"]  # not shown twice
    title = second["template_card"]["main_title"]["title"]
    assert title.startswith("欢迎加入！入职须知。") and title.endswith("…") and len(title) == 26


async def test_more_than_six_choices_go_as_a_text_menu(env):
    actions = tuple(
        Action(key=f"reason:r{i}", label=f"原因{i}", command=str(i)) for i in range(1, 12)
    )
    await queue(env.rt, "lisi", Outgoing(text="请选择原因", actions=actions), "k-menu")
    await drain(env.rt)
    (body,) = env.standin.delivered("message/send")
    assert body["msgtype"] == "text"
    assert "11（原因11）" in body["text"]["content"]


async def test_a_retry_after_a_lost_answer_is_not_shown_twice(env):
    message = Outgoing(text="offer", actions=OFFER_ACTIONS)
    to = Recipient("user", "lisi")
    await env.channel.send(to, message, "same-key")
    await env.channel.send(to, message, "same-key")  # the worker retried: same JSON
    assert len(env.standin.calls_to("message/send")) == 2
    assert len(env.standin.delivered("message/send")) == 1


async def test_a_card_whose_task_id_was_used_counts_as_sent(env):
    to = Recipient("user", "lisi")
    await env.channel.send(to, Outgoing(text="offer", actions=OFFER_ACTIONS), "k-card")
    # Past the duplicate window WeCom answers 42014 for the same task_id: it went out.
    result = await env.channel.send(to, Outgoing(text="offer!", actions=OFFER_ACTIONS), "k-card")
    assert env.standin.calls_to("message/send")[-1].answer == 42014
    assert result.message_id == ""
    assert len(env.standin.delivered("message/send")) == 1


async def test_task_ids_differ_between_installations(env):
    to = Recipient("user", "lisi")
    await env.channel.send(to, Outgoing(text="a", actions=OFFER_ACTIONS), "offer:1:send")
    first = env.standin.delivered("message/send")[0]["template_card"]["task_id"]
    await KeyValue.filter(key="wecom:task_salt").delete()  # a fresh database
    env.channel._salt = None
    await env.channel.send(to, Outgoing(text="a", actions=OFFER_ACTIONS), "offer:1:send")
    second = env.standin.delivered("message/send")[-1]["template_card"]["task_id"]
    assert first != second
    assert first.split("-", 1)[1] == second.split("-", 1)[1]


async def test_card_update_uses_the_one_shot_response_code(env):
    code = env.standin.click()
    done = Outgoing(text="✅ 您已接受 offer\n谢谢", replaces=code)
    pk = await queue(env.rt, "lisi", done, "k-done")
    again = await queue(env.rt, "lisi", done, "k-done-again")  # the code is spent now
    await drain(env.rt)
    (update, refused) = env.standin.calls_to("message/update_template_card")
    assert update.body == {
        "agentid": AGENT_ID,
        "response_code": code,
        "button": {"replace_name": "✅ 您已接受 offer"},
        "userids": ["lisi"],
    }
    assert refused.answer != 0
    # A spent or expired code only leaves the old buttons: sent, never an alert.
    assert (await Outbox.get(id=pk)).status == "sent"
    assert (await Outbox.get(id=again)).status == "sent"
    assert env.standin.calls_to("message/send") == []


# -- tokens ------------------------------------------------------------------------------


async def test_token_is_cached_and_refetched_once_when_it_expires(env):
    to = Recipient("user", "zhangsan")
    await env.channel.send(to, Outgoing(text="one"), "t1")
    await env.channel.send(to, Outgoing(text="two"), "t2")
    assert env.standin.tokens_issued == 1
    env.standin.expire_tokens()  # WeCom invalidated it early: 42001
    await env.channel.send(to, Outgoing(text="three"), "t3")
    assert env.standin.tokens_issued == 2
    answers = [c.answer for c in env.standin.calls_to("message/send")]
    assert answers == [0, 0, 42001, 0]
    assert len(env.standin.delivered("message/send")) == 3


async def test_a_token_refused_twice_is_transient_not_a_loop(env):
    env.standin.fail("message/send", 40014, times=5)
    with pytest.raises(TransientError):
        await env.channel.send(Recipient("user", "zhangsan"), Outgoing(text="x"), "t")
    assert len(env.standin.calls_to("message/send")) == 2
    assert env.standin.tokens_issued == 2


async def test_processes_share_one_token_and_fetch_it_once(env, make_runtime):
    other = await make_runtime(env.rt.settings)  # a second process: same Redis
    sends = [
        rt.channels["wecom"].send(Recipient("user", f"u{i}"), Outgoing(text="hi"), f"k{i}")
        for i, rt in enumerate([env.rt, other] * 5)
    ]
    await asyncio.gather(*sends)
    assert env.standin.tokens_issued == 1  # the Redis lock kept the others waiting
    assert len(env.standin.delivered("message/send")) == 10


# -- errors ------------------------------------------------------------------------------


async def test_busy_and_rate_limits_are_retried_with_backoff(env):
    env.standin.fail("message/send", -1)
    env.standin.fail("message/send", 45009)
    env.standin.fail("message/send", status=502)
    pk = await queue(env.rt, "zhangsan", Outgoing(text="稍后送达"), "k-retry")
    await drain(env.rt)
    row = await Outbox.get(id=pk)
    assert row.status == "sent"
    assert row.attempts == 4
    assert [c.answer for c in env.standin.calls_to("message/send")] == [-1, 45009, 502, 0]
    assert len(env.standin.delivered("message/send")) == 1


async def test_rate_limits_past_max_attempts_fail_the_row(env):
    env.standin.fail("message/send", 45033, times=10)
    pk = await queue(env.rt, "zhangsan", Outgoing(text="x"), "k-busy")
    await drain(env.rt)
    row = await Outbox.get(id=pk)
    assert row.status == "failed"
    assert "45033" in row.last_error
    assert len(env.standin.calls_to("message/send")) == env.rt.settings.delivery.max_attempts


async def test_invalid_user_gives_up_at_once_and_shows_on_readyz(env):
    env.standin.invalid_users.add("ghost")
    pk = await queue(env.rt, "ghost", Outgoing(text="x"), "k-ghost")
    await drain(env.rt)
    row = await Outbox.get(id=pk)
    assert row.status == "failed"
    assert row.last_error.startswith("81013")
    assert len(env.standin.calls_to("message/send")) == 1
    ready = await (await env.client.get("/readyz")).json()
    assert ready["problems"]["wecom"].startswith("81013")


@pytest.mark.parametrize(("code", "problem"), [(60020, "企业可信IP"), (40001, "secret")])
async def test_setup_errors_on_gettoken_are_permanent_and_reported(env, code, problem):
    env.standin.fail("gettoken", code)
    pk = await queue(env.rt, "zhangsan", Outgoing(text="x"), "k-setup")
    await drain(env.rt)
    row = await Outbox.get(id=pk)
    assert row.status == "failed"
    assert row.last_error.startswith(str(code))
    assert problem in env.rt.problems["wecom"]
    assert env.standin.calls_to("message/send") == []


async def test_a_problem_one_process_saw_shows_on_every_readyz_until_fixed(env, make_runtime):
    """A worker refreshes the token, `serve --no-worker` answers /readyz: the problem is
    shared through Redis, and cleared everywhere by the first process that succeeds."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    other = await make_runtime(env.rt.settings)  # a second process on the same Redis
    async with TestClient(TestServer(build_app(other))) as other_client:

        async def problems_elsewhere() -> dict:
            return (await (await other_client.get("/readyz")).json()).get("problems", {})

        assert await problems_elsewhere() == {}
        env.standin.fail("gettoken", 40001)
        await queue(env.rt, "zhangsan", Outgoing(text="x"), "k-secret")
        await drain(env.rt)
        await env.rt.problems.settled()
        assert "secret" in (await problems_elsewhere())["wecom"]
        assert "wecom" not in other.problems  # not this process's own finding

        # The secret works again: the first successful gettoken (in any process) clears it.
        await other.channels["wecom"].api.token()
        await other.problems.settled()
        assert await problems_elsewhere() == {}
        assert (await (await env.client.get("/readyz")).json()).get("problems", {}) == {}


async def test_unreachable_api_is_transient(settings_factory, make_runtime):
    async with wecom_env(
        settings_factory, make_runtime, wecom={"api_base_url": "http://127.0.0.1:9"}
    ) as e:
        with pytest.raises(TransientError):
            await e.channel.send(Recipient("user", "zhangsan"), Outgoing(text="x"), "k")


async def test_member_quota_holds_messages_back_instead_of_losing_them(env):
    env.channel.member_per_minute = 2  # WeCom: 30/min, above that silently dropped
    to = Recipient("user", "wangwu")
    await env.channel.send(to, Outgoing(text="1"), "q1")
    await env.channel.send(to, Outgoing(text="2"), "q2")
    with pytest.raises(TransientError) as caught:
        await env.channel.send(to, Outgoing(text="3"), "q3")
    assert 0 < caught.value.retry_after <= 61
    assert len(env.standin.calls_to("message/send")) == 2
    await env.channel.send(Recipient("user", "other"), Outgoing(text="x"), "q4")  # per member


# -- 微信客服 -------------------------------------------------------------------------------


async def test_kf_text_and_menu(env):
    to = Recipient("user", "kf:wmEXT1")
    await env.channel.send(to, Outgoing(text="您好"), "kf-1")
    await env.channel.send(to, Outgoing(text="请确认 offer", actions=OFFER_ACTIONS), "kf-2")
    text, menu = env.standin.delivered("kf/send_msg")
    assert text["touser"] == "wmEXT1"
    assert text["open_kfid"] == OPEN_KFID
    assert text["text"] == {"content": "您好"}
    assert re.fullmatch(r"[0-9a-f]{32}", text["msgid"])
    assert menu["msgtype"] == "msgmenu"
    assert menu["msgmenu"]["head_content"] == "请确认 offer"
    assert [i["click"] for i in menu["msgmenu"]["list"]] == [
        {"id": "1", "content": "接受"},
        {"id": "2", "content": "拒绝"},
        {"id": "3", "content": "我有疑问"},
    ]
    assert env.channel.session_limit("kf:wmEXT1").budget == 5
    assert env.channel.session_limit("kf:wmEXT1").window.total_seconds() == 48 * 3600
    assert env.channel.session_limit("zhangsan") is None


async def test_kf_without_an_account_is_a_config_error(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime, wecom={"kf_open_kfid": ""}) as e:
        with pytest.raises(PermanentError):
            await e.channel.send(Recipient("user", "kf:x"), Outgoing(text="x"), "k")
        assert await e.channel.invite_link("123456") is None


# -- HR group and group chats ---------------------------------------------------------------


async def test_hr_alert_goes_to_the_robot_as_markdown_with_phones_masked(env):
    alert = Outgoing(
        title="候选人有疑问 #12",
        text="张三 13800138000：薪资能否再谈",
        actions=(Action(key="claim", label="认领", command="/claim 12"),),
    )
    await queue_hr(env.rt, alert, "alert:12")
    await drain(env.rt)
    (post,) = env.standin.delivered("webhook/send")
    content = post["markdown"]["content"]
    assert post["msgtype"] == "markdown"
    assert content.startswith("**候选人有疑问 #12**")
    assert "138****8000" in content
    assert "13800138000" not in content
    assert "/claim 12" in content
    assert env.standin.calls_to("webhook/send")[0].query == {"key": env.standin.robot_key}


async def test_a_burst_of_alerts_is_merged_under_the_robot_limit(env):
    env.channel.robot.interval = 0.3  # 3 s in production (20/min)
    for i in range(12):
        await queue_hr(env.rt, Outgoing(text=f"提醒 {i} 号"), f"burst:{i}")
    await drain(env.rt)
    posts = env.standin.delivered("webhook/send")
    text = "\n".join(p["markdown"]["content"] for p in posts)
    assert all(f"提醒 {i} 号" in text for i in range(12))  # nothing lost
    assert len(posts) < 12  # merged
    assert all(c.answer == 0 for c in env.standin.calls_to("webhook/send"))
    rows = await Outbox.filter(platform="wecom", recipient_kind="hr_group")
    assert {r.status for r in rows} == {"sent"}


async def test_robot_rate_limit_answer_is_retried(env):
    env.standin.fail("webhook/send", 45009)
    await queue_hr(env.rt, Outgoing(text="重要"), "hr-retry")
    await drain(env.rt)
    assert [c.answer for c in env.standin.calls_to("webhook/send")] == [45009, 0]


async def test_hr_alerts_use_the_app_chat_without_a_robot(settings_factory, make_runtime):
    wecom = {"hr_webhook_key": "", "hr_chat_id": "hrchat01"}
    async with wecom_env(settings_factory, make_runtime, wecom=wecom) as e:
        assert e.channel.can_reach_hr()
        await queue_hr(e.rt, Outgoing(text="李四 13912345678 接受了 offer"), "hr-chat")
        await drain(e.rt)
        (body,) = e.standin.delivered("appchat/send")
        assert body == {
            "chatid": "hrchat01",
            "msgtype": "text",
            "text": {"content": "李四 139****5678 接受了 offer"},
        }
        assert e.standin.calls_to("webhook/send") == []


async def test_no_hr_group_configured(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime, wecom={"hr_webhook_key": ""}) as e:
        assert not e.channel.can_reach_hr()
        assert "wecom" not in e.rt.hr_platforms
        with pytest.raises(PermanentError):
            await e.channel.send(Recipient("hr_group", "hr_group"), Outgoing(text="x"), "k")


async def test_chat_addresses_go_to_appchat(env):
    await env.channel.send(Recipient("user", "chat:grp7"), Outgoing(text="/help 的回答"), "c1")
    (body,) = env.standin.delivered("appchat/send")
    assert body["chatid"] == "grp7"


# -- media -------------------------------------------------------------------------------


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def test_chart_image_is_uploaded_then_sent(env):
    charts = env.rt.settings.data_dir / "charts"
    charts.mkdir(parents=True)
    (charts / "stats-30d.png").write_bytes(png_bytes())
    message = Outgoing(kind="image", image_key="stats-30d.png", text="近 30 天")
    await env.channel.send(Recipient("user", "hr_zhang"), message, "img-1")
    (upload,) = env.standin.calls_to("media/upload")
    assert upload.query["type"] == "image"
    assert upload.body["data"] == png_bytes()
    assert upload.body["type"] == "image/png"
    text, image = env.standin.delivered("message/send")
    assert text["text"]["content"] == "近 30 天"
    assert image["msgtype"] == "image"
    assert image["image"]["media_id"] in env.standin.media


async def test_chart_keys_cannot_escape_the_charts_folder(env):
    (env.rt.settings.data_dir / "secret.png").write_bytes(png_bytes())
    for key in ("../secret.png", "/etc/passwd", ".hidden", "missing.png"):
        with pytest.raises(PermanentError):
            await env.channel.send(
                Recipient("user", "hr_zhang"), Outgoing(kind="image", image_key=key, text=""), "k"
            )
    assert env.standin.calls_to("media/upload") == []


async def test_chart_to_the_hr_robot_is_a_base64_image(env):
    charts = env.rt.settings.data_dir / "charts"
    charts.mkdir(parents=True)
    (charts / "c.png").write_bytes(png_bytes())
    env.channel.robot.interval = 0.01
    await env.channel.send(
        Recipient("hr_group", "hr_group"),
        Outgoing(kind="image", image_key="c.png", text="统计"),
        "k",
    )
    markdown, image = env.standin.delivered("webhook/send")
    assert markdown["markdown"]["content"] == "统计"
    assert image["msgtype"] == "image"
    assert len(image["image"]["md5"]) == 32


async def test_download_returns_bytes_and_filename(env):
    pdf = b"%PDF-1.4\n" + b"0" * 2000
    media_id = env.standin.add_media(pdf, "offer-签字.pdf", "application/pdf")
    got = await env.channel.download(MediaRef(kind="file", key=media_id))
    assert got.data == pdf
    assert got.filename == "offer-签字.pdf"
    assert got.content_type == "application/pdf"


async def test_download_tells_a_json_error_from_a_file(env):
    with pytest.raises(PermanentError) as caught:
        await env.channel.download(MediaRef(kind="image", key="expired-id"))
    assert caught.value.code == 40007
    env.standin.expire_tokens()
    media_id = env.standin.add_media(b"\x89PNG....", "a.png", "image/png")
    assert (await env.channel.download(MediaRef(kind="image", key=media_id))).data == b"\x89PNG...."


async def test_download_of_a_file_over_the_limit_stops_reading(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime, storage={"max_document_mb": 0.001}) as e:
        limit = int(0.001 * 1024 * 1024)
        media_id = e.standin.add_media(b"x" * 50_000, "big.pdf", "application/pdf")
        got = await e.channel.download(MediaRef(kind="file", key=media_id))
        assert len(got.data) == limit + 1  # enough for the checks to say "too large"


# -- identity ------------------------------------------------------------------------------


async def test_find_user_by_mobile_validates_and_remembers_misses(env):
    env.standin.users_by_mobile["13800138000"] = "zhangsan"
    assert await env.channel.find_user("+86 138-0013-8000", None) == "zhangsan"
    assert await env.channel.find_user("12345", None) is None  # not a mobile: never asked
    assert await env.channel.find_user("23800138000", None) is None
    assert await env.channel.find_user(None, "a@b.cn") is None
    assert len(env.standin.calls_to("user/getuserid")) == 1
    assert await env.channel.find_user("13900000000", None) is None
    assert await env.channel.find_user("13900000000", None) is None  # remembered for a day
    calls = env.standin.calls_to("user/getuserid")
    assert [c.body for c in calls] == [{"mobile": "13800138000"}, {"mobile": "13900000000"}]


async def test_invite_link_carries_the_code_and_is_fetched_once(env):
    first = await env.channel.invite_link("123456")
    second = await env.channel.invite_link("654321")
    (call,) = env.standin.calls_to("kf/add_contact_way")
    assert call.body == {"open_kfid": OPEN_KFID, "scene": "offer"}
    assert re.fullmatch(
        r"https://work\.weixin\.qq\.com/kf/kfc\d+\?enc_scene=ENCoffer&scene_param=123456", first
    )
    assert second.endswith("&scene_param=654321")


async def test_invite_link_is_none_when_wecom_refuses(env):
    env.standin.fail("kf/add_contact_way", 60020)
    assert await env.channel.invite_link("123456") is None
