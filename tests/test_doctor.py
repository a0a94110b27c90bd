"""`offerbot doctor` against the WeCom and Feishu stand-ins, with right and wrong
credentials: one line per check, the fix in words for each failure, exit 1 on any failure."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path

import pytest

from bot.doctor import run_checks
from tests.standins.feishu import FeishuStandin
from tests.standins.wecom import running_standin

ROBOT_KEY = "693a91f6-7a1e-4bc4-97a0-0ec2f1a5aa01"


def by_name(checks) -> dict:
    return {c.name: c for c in checks}


@pytest.fixture
async def wecom():
    async with running_standin() as standin:
        standin.app_chats["hr-chat-1"] = "HR 群"
        yield standin


@pytest.fixture
async def feishu():
    async with FeishuStandin() as standin:
        standin.bot_chats.add("oc_hr")
        yield standin


def feishu_section(standin: FeishuStandin, **overrides) -> dict:
    return {
        "enabled": True,
        "app_id": standin.app_id,
        "app_secret": standin.app_secret,
        "verification_token": "vt",
        "encrypt_key": "",
        "api_base_url": standin.url,
        "hr_chat_id": "oc_hr",
        **overrides,
    }


async def test_everything_right_is_all_ok(settings_factory, wecom, feishu):
    s = settings_factory(
        wecom=wecom.settings(hr_chat_id="hr-chat-1", hr_webhook_key=ROBOT_KEY),
        feishu=feishu_section(feishu),
    )
    checks = by_name(await run_checks(s))
    assert checks["database"].ok is True
    assert checks["redis"].ok is True
    assert checks["wecom token"].ok is True
    assert checks["wecom HR group"].ok is True
    assert checks["wecom HR robot"].ok is None  # shape only: nothing is posted
    assert checks["wecom 微信客服"].ok is True
    assert checks["feishu token"].ok is True
    assert checks["feishu HR group"].ok is True
    assert not any(c.fix for c in checks.values())
    assert wecom.calls_to("webhook/send") == []  # the doctor sends nothing


async def test_a_wrong_wecom_secret_names_the_key_and_stops(settings_factory, wecom):
    s = settings_factory(wecom=wecom.settings(secret="wrong"))
    checks = by_name(await run_checks(s))
    token = checks["wecom token"]
    assert token.ok is False and "40001" in token.detail
    assert "wecom.secret" in token.fix
    assert "wecom 微信客服" not in checks  # nothing else is tried without a token


async def test_an_untrusted_ip_says_where_to_add_it(settings_factory, wecom):
    wecom.fail("gettoken", 60020)
    checks = by_name(await run_checks(settings_factory(wecom=wecom.settings())))
    assert "企业可信IP" in checks["wecom token"].fix


async def test_wecom_group_kf_and_robot_key_problems(settings_factory, wecom):
    wecom.kf_accounts = ["someone-else"]
    s = settings_factory(wecom=wecom.settings(hr_chat_id="nope", hr_webhook_key="robot-key"))
    checks = by_name(await run_checks(s))
    assert checks["wecom HR group"].ok is False and "86003" in checks["wecom HR group"].detail
    assert checks["wecom HR robot"].ok is False and "Webhook" in checks["wecom HR robot"].fix
    kf = checks["wecom 微信客服"]
    assert kf.ok is False and "open_kfid" in kf.fix


async def test_no_hr_target_at_all_is_a_failure(settings_factory, wecom):
    s = settings_factory(wecom=wecom.settings(hr_webhook_key="", hr_chat_id="", kf_open_kfid=""))
    checks = by_name(await run_checks(s))
    assert checks["wecom HR group"].ok is False
    assert "hr_webhook_key" in checks["wecom HR group"].fix


async def test_feishu_wrong_secret_and_bot_not_in_group(settings_factory, feishu):
    checks = by_name(
        await run_checks(settings_factory(feishu=feishu_section(feishu, app_secret="x")))
    )
    assert checks["feishu token"].ok is False and "feishu.app_secret" in checks["feishu token"].fix
    assert "feishu HR group" not in checks
    checks = by_name(
        await run_checks(settings_factory(feishu=feishu_section(feishu, hr_chat_id="oc_other")))
    )
    group = checks["feishu HR group"]
    assert group.ok is False and "添加机器人" in group.fix


async def test_unreachable_platform_and_database(settings_factory, tmp_path):
    s = settings_factory(
        wecom={
            "enabled": True,
            "corp_id": "c",
            "agent_id": 1,
            "secret": "s",
            "token": "t",
            "encoding_aes_key": "a" * 43,
            "api_base_url": "http://127.0.0.1:9",  # nothing listens on the discard port
            "hr_webhook_key": ROBOT_KEY,
        },
        database={"url": "postgres://nobody@127.0.0.1:9/none"},
    )
    checks = by_name(await run_checks(s))
    assert checks["database"].ok is False and "database.url" in checks["database"].fix
    assert checks["wecom token"].ok is False and "api_base_url" in checks["wecom token"].fix


async def _doctor(config: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "doctor",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


def _toml(sections: dict) -> str:
    lines = []
    for name, body in sections.items():
        lines.append(f"[{name}]")
        for key, value in body.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            elif isinstance(value, list):
                lines.append(f"{key} = {value!r}".replace("'", '"'))
            else:
                lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


async def test_the_command_prints_one_line_per_check_and_exits_by_result(settings, tmp_path, wecom):
    base = {
        "database": {"url": settings.database.url},
        "redis": {"url": settings.redis.url},
        "storage": {"data_dir": str(tmp_path / "data")},
    }
    good = tmp_path / "good.toml"
    good.write_text(_toml({**base, "wecom": wecom.settings(hr_webhook_key=ROBOT_KEY)}))
    tomllib.loads(good.read_text())  # the file is what a person would write
    code, out = await _doctor(good)
    assert code == 0, out
    assert [ln.split()[0] for ln in out.splitlines() if not ln.startswith(" ")] == [
        "ok",
        "ok",
        "ok",
        "--",
        "ok",
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text(_toml({**base, "wecom": wecom.settings(secret="wrong")}))
    code, out = await _doctor(bad)
    assert code == 1
    assert "FAIL wecom token" in out and "fix: wecom.secret" in out
    assert "wrong" not in out  # the secret itself is never printed


# -- WeCom 智能机器人 ----------------------------------------------------------------------


@pytest.fixture
async def aibot():
    from tests.standins.wecom_bot import AibotStandin

    standin = AibotStandin()
    async with standin.running():
        yield standin


def aibot_section(standin, **overrides) -> dict:
    return {
        "enabled": True,
        "bot_id": standin.bot_id,
        "secret": standin.secret,
        "ws_url": standin.url,
        "hr_chat_id": "wrHR",
        **overrides,
    }


async def test_wecom_bot_subscribes_once_and_names_a_refused_secret(settings_factory, aibot):
    good = by_name(await run_checks(settings_factory(wecom_bot=aibot_section(aibot))))
    assert good["wecom_bot connection"].ok is True
    assert aibot.subscribes == [{"bot_id": aibot.bot_id, "secret": aibot.secret}]
    assert not aibot.live  # closed again
    s = settings_factory(wecom_bot=aibot_section(aibot, secret="wrong-one"))
    bad = by_name(await run_checks(s))["wecom_bot connection"]
    assert bad.ok is False and "40001" in bad.detail
    assert "wecom_bot.secret" in bad.fix and "wrong-one" not in bad.line()


async def test_wecom_bot_unreachable_and_held_by_a_holder(settings_factory, aibot):
    s = settings_factory(wecom_bot=aibot_section(aibot, ws_url="ws://127.0.0.1:9/"))
    down = by_name(await run_checks(s))["wecom_bot connection"]
    assert down.ok is False and "wecom_bot.ws_url" in down.fix
    from bot.channels.wecom_bot.relay import keys
    from bot.queue import connect

    s = settings_factory(wecom_bot=aibot_section(aibot))
    redis = await connect(s)
    try:
        await redis.set(keys(aibot.bot_id)["lease"], "someone", px=5000)
        held = by_name(await run_checks(s))["wecom_bot connection"]
    finally:
        await redis.delete(keys(aibot.bot_id)["lease"])
        await redis.aclose()
    assert held.ok is True and "held by" in held.detail
    assert aibot.connects == 0  # the holder's connection was left alone


async def test_the_ai_bot_is_an_hr_route_for_wecom(settings_factory, wecom, aibot):
    s = settings_factory(wecom=wecom.settings(), wecom_bot=aibot_section(aibot))
    checks = by_name(await run_checks(s))
    assert "wecom HR group" not in checks  # no robot key or app chat needed
    assert checks["wecom_bot connection"].ok is True

async def test_feishu_long_connection_endpoint_with_right_and_wrong_secret(settings_factory):
    from tests.standins.feishu_ws import FeishuWsStandin

    http = FeishuStandin()
    ws = FeishuWsStandin(http)
    http.bot_chats.add("oc_hr")
    async with http:
        section = feishu_section(http, connection="websocket", verification_token="")
        checks = by_name(await run_checks(settings_factory(feishu=section)))
        assert checks["feishu long connection"].ok is True
        assert "127.0.0.1" in checks["feishu long connection"].detail
        assert ws.endpoint_calls == 1 and ws.connections == 0  # the socket is not opened

        wrong = {**section, "app_secret": "nope"}
        checks = by_name(await run_checks(settings_factory(feishu=wrong)))
        failed = checks["feishu long connection"]
        assert failed.ok is False and "10014" in failed.detail
        assert "凭证与基础信息" in failed.fix and "nope" not in failed.line()

        # The webhook mode makes no such call.
        await run_checks(settings_factory(feishu=feishu_section(http)))
        assert ws.endpoint_calls == 2
