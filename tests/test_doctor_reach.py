"""`offerbot doctor`'s SMTP login and SMS signature checks, against the loopback SMTP server
and the Aliyun stand-in (which verifies signatures itself); nothing is sent to anyone."""

from __future__ import annotations

import pytest

from bot.doctor import run_checks
from tests.standins import aliyun_sms
from tests.standins.aliyun_sms import AliyunSmsStandin
from tests.standins.smtp import SmtpStandin

PUBLIC = {"public_url": "https://hr.example.com"}


def by_name(checks) -> dict:
    return {c.name: c for c in checks}


@pytest.fixture
async def sms():
    async with AliyunSmsStandin() as standin:
        yield standin


@pytest.fixture
async def smtp(tmp_path):
    async with SmtpStandin(tmp_path, mode="starttls", username="hr@example.com") as server:
        yield server


async def test_right_settings_are_all_ok_and_nothing_is_sent(settings_factory, sms, smtp):
    s = settings_factory(server=PUBLIC, sms=sms.settings(), email=smtp.settings())
    checks = by_name(await run_checks(s))
    assert checks["sms signature"].ok is True
    assert checks["sms 签名"].ok is True
    assert checks["sms template_invite"].ok is True
    assert checks["sms template_reminder"].ok is True
    assert checks["smtp login"].ok is True and "hr@example.com" in checks["smtp login"].detail
    assert "candidate page link" not in checks
    assert [c.action for c in sms.calls] == ["QuerySmsSign", "QuerySmsTemplate", "QuerySmsTemplate"]
    assert {c.code for c in sms.calls} == {"OK"}  # the signature was accepted
    assert sms.sent() == [] and smtp.received == [] and smtp.attempts == 0
    assert smtp.logins == [("hr@example.com", True)]


async def test_a_wrong_secret_names_the_key(settings_factory, sms):
    s = settings_factory(server=PUBLIC, sms=sms.settings(access_key_secret="wrong"))
    checks = by_name(await run_checks(s))
    check = checks["sms signature"]
    assert check.ok is False and "SignatureDoesNotMatch" in check.detail
    assert "sms.access_key_secret" in check.fix
    assert "sms 签名" not in checks  # nothing else is asked with a refused signature


async def test_an_unknown_key_a_sign_under_review_and_a_wrong_template(settings_factory, sms):
    checks = by_name(
        await run_checks(settings_factory(server=PUBLIC, sms=sms.settings(access_key_id="LTAIx")))
    )
    assert "sms.access_key_id" in checks["sms signature"].fix
    sms.signs[aliyun_sms.SIGN_NAME] = 0
    s = settings_factory(server=PUBLIC, sms=sms.settings(template_reminder="SMS_999"))
    checks = by_name(await run_checks(s))
    assert checks["sms signature"].ok is True
    assert checks["sms 签名"].ok is False and "审核中" in checks["sms 签名"].detail
    reminder = checks["sms template_reminder"]
    assert reminder.ok is False and "模板管理" in reminder.fix


async def test_a_wrong_smtp_password_says_what_to_use(settings_factory, smtp):
    s = settings_factory(server=PUBLIC, email=smtp.settings(password="web-password"))
    check = by_name(await run_checks(s))["smtp login"]
    assert check.ok is False and "535" in check.detail
    assert "授权码" in check.fix
    assert "web-password" not in check.detail + check.fix


async def test_an_unreachable_smtp_server_and_a_missing_public_url(settings_factory, smtp):
    section = smtp.settings(smtp_port=9)  # nothing listens on the discard port
    checks = by_name(await run_checks(settings_factory(email=section)))
    assert checks["smtp login"].ok is False and "smtp_port" in checks["smtp login"].fix
    assert checks["candidate page link"].ok is False
    assert "server.public_url" in checks["candidate page link"].fix


async def test_public_url_must_reach_this_server(settings_factory):
    """doctor GETs {public_url}/healthz: offerbot's answer passes, anything else names the fix."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def healthz(request):
        return web.json_response({"status": "ok"})

    async def other(request):
        return web.Response(text="<html>a parking page</html>")

    ours, theirs = web.Application(), web.Application()
    ours.router.add_get("/healthz", healthz)
    theirs.router.add_get("/healthz", other)
    async with TestServer(ours, host="127.0.0.1") as good, TestServer(
        theirs, host="127.0.0.1"
    ) as wrong:
        for server, ok in ((good, True), (wrong, False)):
            url = str(server.make_url("")).rstrip("/")
            checks = by_name(await run_checks(settings_factory(server={"public_url": url})))
            assert checks["public url"].ok is ok, checks["public url"]
        closed = settings_factory(server={"public_url": "http://127.0.0.1:9"})
        check = by_name(await run_checks(closed))["public url"]
        assert check.ok is False and "reverse proxy" in check.fix
