"""Reaching candidates outside chat (docs/sms-email.md): real SMTP (aiosmtpd) and an Aliyun
SendSms stand-in that verifies the signature, on loopback; offers through the HTTP API,
HR commands through the playground's chat, the worker as in production."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

import aiohttp
import pytest

from bot.logs import NOISY
from bot.runtime import Runtime
from bot.services import candidate_links
from bot.storage.models import Alert, Candidate, Offer, Outbox, TimelineEvent, Timer
from tests.helpers import drain
from tests.hr_data import ask
from tests.offer_steps import MASKED, PHONE, api, hire, hr_texts, said, send
from tests.standins import aliyun_sms
from tests.standins.aliyun_sms import AliyunSmsStandin
from tests.standins.smtp import SmtpStandin
from tests.standins.wecom import kf_event_xml, kf_text, wecom_env

EMAIL = "zhangsan@example.org"
PUBLIC = "https://hr.example.com"


@dataclass
class Env:
    rt: Runtime
    sms: AliyunSmsStandin | None
    smtp: SmtpStandin | None
    client: Any


@asynccontextmanager
async def reach_env(
    settings_factory,
    make_runtime,
    tmp_path,
    *,
    sms=True,
    email=True,
    mode="none",
    sms_section=None,
    **sections,
):
    async with AliyunSmsStandin() as standin, SmtpStandin(tmp_path, mode=mode) as smtp:
        extra: dict[str, Any] = {"server": {"public_url": PUBLIC}, **sections}
        if sms:
            extra["sms"] = standin.settings(**(sms_section or {}))
        if email:
            extra["email"] = smtp.settings()
        rt = await make_runtime(settings_factory(**extra))
        async with api(rt) as client:
            yield Env(rt, standin if sms else None, smtp if email else None, client)


async def invite(env: Env, **person: Any) -> dict:
    """An offer for a candidate the ATS knows only by name, phone and e-mail."""
    person.setdefault("email", EMAIL)
    answer = await hire(env.client, web_id=None, **person)
    await drain(env.rt)
    return answer


def token_of(link: str) -> str:
    assert link.startswith(f"{PUBLIC}/c/"), link
    return link.rsplit("/", 1)[1]


async def test_an_invited_candidate_gets_sms_and_email_with_the_page_link(
    settings_factory, make_runtime, tmp_path
):
    async with reach_env(settings_factory, make_runtime, tmp_path) as env:
        answer = await invite(env)
        assert answer["invite_code"]  # HR still gets the code to pass on
        (sms,) = env.sms.sent()
        assert sms["phone"] == PHONE
        assert sms["template"] == aliyun_sms.TEMPLATE_INVITE
        assert sms["params"]["name"] == "张三"
        assert sms["params"]["company"] == "示例科技"
        assert sms["params"]["job"] == "后端工程师"
        person = await candidate_links.resolve(token_of(sms["params"]["link"]))
        assert person is not None and person.name == "张三"

        (mail,) = env.smtp.received
        assert mail.recipients == [EMAIL]
        name, address = parseaddr(mail.message["From"])
        assert (name, address) == ("示例科技", "hr@example.com")
        assert "后端工程师" in mail.message["Subject"]
        text, html = mail.part("plain"), mail.part("html")
        link = next(w for w in text.split() if w.startswith(PUBLIC))
        assert await candidate_links.resolve(token_of(link)) is not None
        assert f'<a href="{link}">{link}</a>' in html
        assert "张三" in text and "张三" in html
        rows = await Outbox.filter(platform__in=("sms", "email")).order_by("platform")
        assert [(r.platform, r.status) for r in rows] == [("email", "sent"), ("sms", "sent")]
        assert {r.idempotency_key for r in rows} == {
            f"offer:{answer['id']}:invite:sms",
            f"offer:{answer['id']}:invite:email",
        }
        assert await Alert.filter(kind="undeliverable").count() == 0


async def test_the_html_part_escapes_what_the_ats_sent(settings_factory, make_runtime, tmp_path):
    async with reach_env(settings_factory, make_runtime, tmp_path, sms=False) as env:
        await invite(env, name="<script>alert(1)</script>")
        (mail,) = env.smtp.received
        html = mail.part("html")
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert(1)</script>" in mail.part("plain")


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_email_over_starttls_and_tls_with_login(
    settings_factory, make_runtime, tmp_path, mode
):
    async with SmtpStandin(tmp_path, mode=mode, username="hr@example.com") as smtp:
        s = settings_factory(server={"public_url": PUBLIC}, email=smtp.settings())
        rt = await make_runtime(s)
        async with api(rt) as client:
            await hire(client, web_id=None, email=EMAIL)
            await drain(rt)
        assert smtp.logins == [("hr@example.com", True)]
        (mail,) = smtp.received
        assert PUBLIC in mail.part("plain")


async def test_an_untrusted_certificate_is_refused(settings_factory, make_runtime, tmp_path):
    """Without `ca_file` the self-signed certificate is not trusted: nothing is sent in
    clear, and HR hears that the e-mail could not go out."""
    async with SmtpStandin(tmp_path, mode="starttls") as smtp:
        section = {**smtp.settings(), "ca_file": ""}
        rt = await make_runtime(settings_factory(server={"public_url": PUBLIC}, email=section))
        async with api(rt) as client:
            await hire(client, web_id=None, email=EMAIL)
            await drain(rt)
        assert smtp.received == []
        row = await Outbox.get(platform="email")
        assert row.status == "failed" and "SMTP_TLS" in row.last_error
        assert any("SMTP_TLS" in t for t in await hr_texts())


async def test_smtp_4xx_is_retried_and_delivered_once(settings_factory, make_runtime, tmp_path):
    async with reach_env(settings_factory, make_runtime, tmp_path, sms=False) as env:
        env.smtp.fail_next(451)
        await invite(env)
        assert env.smtp.attempts == 2
        assert len(env.smtp.received) == 1
        row = await Outbox.get(platform="email")
        assert (row.status, row.attempts) == ("sent", 2)


async def test_smtp_5xx_gives_up_at_once_and_tells_hr(settings_factory, make_runtime, tmp_path):
    async with reach_env(settings_factory, make_runtime, tmp_path, sms=False) as env:
        env.smtp.fail_next(550)
        await invite(env)
        assert env.smtp.attempts == 1 and env.smtp.received == []
        row = await Outbox.get(platform="email")
        assert (row.status, row.attempts) == ("failed", 1)
        (alert,) = await Alert.filter(kind="undeliverable")
        texts = await hr_texts()
        assert any(f"#{alert.id}" in t and "SMTP 550" in t for t in texts)
        assert not any(EMAIL in t for t in texts)


async def test_an_sms_rate_limit_is_retried_without_duplicates(
    settings_factory, make_runtime, tmp_path
):
    async with reach_env(settings_factory, make_runtime, tmp_path, email=False) as env:
        env.sms.fail("SendSms", "isv.BUSINESS_LIMIT_CONTROL")
        env.sms.fail("SendSms", "Throttling.User")
        await invite(env)
        codes = [c.code for c in env.sms.calls if c.action == "SendSms"]
        assert codes == ["isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "OK"]
        assert len(env.sms.sent()) == 1
        row = await Outbox.get(platform="sms")
        assert (row.status, row.attempts) == ("sent", 3)
        # Running the worker again sends nothing more.
        await drain(env.rt)
        assert len(env.sms.sent()) == 1


async def test_an_invalid_number_alerts_hr_with_the_phone_masked(
    settings_factory, make_runtime, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    async with reach_env(settings_factory, make_runtime, tmp_path) as env:
        env.sms.invalid_numbers.add(PHONE)
        env.smtp.fail_next(550)
        await invite(env)
        assert env.sms.sent() == []
        rows = await Outbox.filter(platform__in=("sms", "email"))
        assert {r.status for r in rows} == {"failed"}
        (alert,) = await Alert.filter(kind="undeliverable")
        texts = [t for t in await hr_texts() if f"#{alert.id}" in t]
        assert texts and "isv.MOBILE_NUMBER_ILLEGAL" in texts[0] and "SMTP 550" in texts[0]
        assert MASKED in texts[0] and PHONE not in texts[0]
        assert "/c/" not in texts[0] and "专属页面链接" in texts[0]  # no page link in a group
        assert all(EMAIL not in t for t in texts)
    # Nothing the bot (or its client libraries) logged names the person's number or
    # address. The stand-ins' own server logs (aiosmtpd's mail.log, the Aliyun stand-in's
    # access log) are the receiving side's, as at Aliyun or the mail provider.
    theirs = ("mail.log", "aiohttp.access")
    # The drivers' SQL traces carry row values; the product keeps them at WARNING
    # (bot/logs.py NOISY), so below that they are an earlier test's leftover, not ours.
    ours = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name not in theirs
        and not (r.name.startswith(NOISY) and r.levelno < logging.WARNING)
    )
    assert "SendSms" in ours or "deliver" in ours  # the log was captured at all
    assert PHONE not in ours and EMAIL not in ours


async def test_one_route_getting_through_is_enough(settings_factory, make_runtime, tmp_path):
    async with reach_env(settings_factory, make_runtime, tmp_path) as env:
        env.sms.invalid_numbers.add(PHONE)
        await invite(env)
        assert len(env.smtp.received) == 1
        assert await Alert.filter(kind="undeliverable").count() == 0


async def test_quiet_hours_hold_sms_and_email(settings_factory, make_runtime, tmp_path):
    quiet = {"quiet_hours": ["00:00", "23:59"], "timezone": "UTC"}
    async with reach_env(settings_factory, make_runtime, tmp_path, company=quiet) as env:
        await invite(env)
        assert env.sms.sent() == [] and env.smtp.received == []
        rows = await Outbox.filter(platform__in=("sms", "email"))
        assert len(rows) == 2
        assert all(r.status == "pending" and r.not_before > env.rt.clock() for r in rows)
        # When the quiet window ends, both go.
        ends = max(r.not_before for r in rows)
        env.rt.clock = lambda: ends + timedelta(seconds=1)
        await drain(env.rt)
        assert len(env.sms.sent()) == 1 and len(env.smtp.received) == 1


async def remind(env: Env) -> str:
    """HR types /remind in the playground's HR chat; the bot's answer."""
    await send(env.rt, said("/remind 张三", user="hr1"))
    rows = await Outbox.filter(platform="web", recipient_id="hr1").order_by("-id")
    return rows[0].payload["text"]


async def test_a_second_sms_within_24h_waits_unless_the_candidate_answered(
    settings_factory, make_runtime, tmp_path
):
    async with reach_env(settings_factory, make_runtime, tmp_path, email=False) as env:
        offer = await invite(env)
        assert len(env.sms.sent()) == 1
        # HR asks for a reminder: the invite SMS went out less than 24 h ago.
        answer = await remind(env)
        assert "24 小时" in answer and len(env.sms.sent()) == 1
        assert await TimelineEvent.filter(kind="sms_suppressed").count() == 1
        # The candidate answered (on the candidate page): the next SMS may go.
        await Offer.filter(id=offer["id"]).update(last_reply_at=env.rt.clock())
        later = env.rt.clock() + timedelta(minutes=1)
        env.rt.clock = lambda: later
        assert "短信" in await remind(env)  # "sent by SMS"
        sent = env.sms.sent()
        assert len(sent) == 2 and sent[1]["template"] == aliyun_sms.TEMPLATE_REMINDER
        # Without an answer, 24 h after the last one is soon enough again.
        env.rt.clock = lambda: later + timedelta(hours=23)
        await remind(env)
        assert len(env.sms.sent()) == 2
        env.rt.clock = lambda: later + timedelta(hours=24, seconds=1)
        await remind(env)
        assert len(env.sms.sent()) == 3


async def test_a_reminder_the_closed_kf_window_holds_goes_by_sms(
    settings_factory, make_runtime, tmp_path
):
    """微信客服: the invited candidate binds by sending the code on personal WeChat and gets
    the offer there; no reply. When the reminder comes due, their last message is more
    than 48 h old, so WeCom would refuse it: it goes by SMS instead, HR is not bothered."""
    async with (
        AliyunSmsStandin() as sms,
        wecom_env(
            settings_factory,
            make_runtime,
            server={"public_url": PUBLIC},
            sms=sms.settings(),
            timers={"offer_unconfirmed_after": "50h", "offer_escalate_after": "100h"},
        ) as env,
    ):
        rt = env.rt
        answer = await hire(env.client, web_id=None, email=None)
        await drain(rt)
        assert len(sms.sent()) == 1  # the invite, at once
        env.standin.queue_kf(kf_text("wmK", answer["invite_code"], "k1"))
        resp = await env.callback(kf_event_xml("ENC-reach-1"))
        assert resp.status == 200
        await drain(rt)
        offer = await Offer.get(id=answer["id"])
        assert (offer.stage, offer.data["address"]) == ("awaiting_reply", ["wecom", "kf:wmK"])
        in_chat = len(env.standin.delivered("kf/send_msg"))
        # 50 h later the reminder comes due; the 48 h window closed meanwhile.
        later = rt.clock() + timedelta(hours=50, minutes=1)
        rt.clock = lambda: later
        await drain(rt)
        held = await Outbox.get(idempotency_key=f"offer:{offer.id}:reminder")
        assert (held.platform, held.status) == ("wecom", "held")
        assert held.last_error == "window_closed"
        assert len(env.standin.delivered("kf/send_msg")) == in_chat  # nothing more in chat
        assert len(sms.sent()) == 2
        assert sms.sent()[-1]["template"] == aliyun_sms.TEMPLATE_REMINDER
        row = await Outbox.get(idempotency_key=f"offer:{offer.id}:reminder:sms")
        assert row.status == "sent"
        assert await Alert.filter(kind="undeliverable").count() == 0
        assert await TimelineEvent.filter(kind="message_rerouted").count() == 1


async def test_the_standin_refuses_a_wrong_signature(tmp_path):
    """The stand-in's check can fail: a request signed with another secret, or changed
    after signing, is refused; the same request signed right is accepted."""
    async with AliyunSmsStandin() as standin, aiohttp.ClientSession() as http:
        from datetime import UTC, datetime

        base = {
            "Action": "QuerySmsSign",
            "Version": "2017-05-25",
            "Format": "JSON",
            "AccessKeyId": standin.access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "SignName": aliyun_sms.SIGN_NAME,
        }

        async def get(query: str) -> tuple[int, dict]:
            async with http.get(f"{standin.url}/?{query}") as resp:
                return resp.status, await resp.json()

        wrong = aliyun_sms.signed_query({**base, "SignatureNonce": "n1"}, secret="other")
        assert (await get(wrong))[1]["Code"] == "SignatureDoesNotMatch"
        tampered = aliyun_sms.signed_query({**base, "SignatureNonce": "n2"}).replace(
            "SignName=", "SignName=x"
        )
        status, body = await get(tampered)
        assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
        right = aliyun_sms.signed_query({**base, "SignatureNonce": "n3"})
        assert (await get(right))[1]["Code"] == "OK"
        assert (await get(right))[1]["Code"] == "SignatureNonceUsed"  # a replay


async def test_a_wrong_secret_gives_up_and_tells_hr(settings_factory, make_runtime, tmp_path):
    async with reach_env(
        settings_factory,
        make_runtime,
        tmp_path,
        email=False,
        sms_section={"access_key_secret": "bad"},
    ) as env:
        await invite(env)
        assert env.sms.sent() == []
        assert [c.code for c in env.sms.calls] == ["SignatureDoesNotMatch"]
        row = await Outbox.get(platform="sms")
        assert row.status == "failed" and "SignatureDoesNotMatch" in row.last_error
        assert await Alert.filter(kind="undeliverable").count() == 1


async def test_erasure_removes_the_addresses_and_words_of_sms_and_email(
    settings_factory, make_runtime, tmp_path
):
    async with reach_env(settings_factory, make_runtime, tmp_path) as env:
        await invite(env)
        candidate = await Candidate.get(phone=PHONE)
        link = env.sms.sent()[0]["params"]["link"]
        from tests.helpers import auth

        resp = await env.client.delete(f"/api/v1/candidates/{candidate.id}", headers=auth())
        assert resp.status == 204
        rows = await Outbox.filter(platform__in=("sms", "email"))
        assert len(rows) == 2
        for row in rows:
            assert row.recipient_id == "erased"
            assert PHONE not in str(row.payload) and EMAIL not in str(row.payload)
            assert "张三" not in str(row.payload) and "/c/" not in str(row.payload)
        assert await candidate_links.resolve(token_of(link)) is None


async def test_a_document_reminder_without_chat_goes_by_sms_and_email(
    settings_factory, make_runtime, tmp_path
):
    from tests.test_documents import accepted_offer

    async with reach_env(settings_factory, make_runtime, tmp_path) as env:
        offer = await accepted_offer(env.rt, web_id=None)  # accepted on the candidate page
        await Candidate.filter(id=offer.candidate_id).update(email=EMAIL)
        timer = await Timer.get(key=f"offer:{offer.id}:docs_remind")
        await Timer.filter(id=timer.id).update(due_at=env.rt.clock() - timedelta(seconds=1))
        await drain(env.rt)
        (sms,) = env.sms.sent()
        assert sms["template"] == aliyun_sms.TEMPLATE_REMINDER
        assert sms["out_id"] == f"docs:{offer.id}:remind:sms"
        (mail,) = env.smtp.received
        assert "入职材料" in mail.message["Subject"]
        assert sms["params"]["link"] in mail.part("plain")  # one link per message
        assert await candidate_links.resolve(token_of(sms["params"]["link"])) is not None
        events = await TimelineEvent.filter(kind="documents_reminded").count()
        assert events == 1


async def test_a_candidate_who_only_opened_the_page_is_reminded_by_sms_too(
    settings_factory, make_runtime, tmp_path
):
    """The page notifies nobody: a reminder that lands only there also goes by SMS."""
    async with reach_env(settings_factory, make_runtime, tmp_path, email=False) as env:
        await invite(env)
        (first,) = env.sms.sent()
        link = first["params"]["link"]
        page = await env.client.get(f"/c/{token_of(link)}")
        assert page.status == 200
        await drain(env.rt)
        later = env.rt.clock() + timedelta(hours=25)
        env.rt.clock = lambda: later
        assert "短信" in await remind(env)
        sent = env.sms.sent()
        assert len(sent) == 2 and sent[1]["template"] == aliyun_sms.TEMPLATE_REMINDER


async def test_remind_for_a_page_candidate_says_the_sms_waited(
    settings_factory, make_runtime, tmp_path
):
    """SMS only, the candidate opened the page and said nothing: HR's /remind puts the
    reminder on the page and says the 24 h rule kept the SMS back (no route is invented)."""
    async with reach_env(settings_factory, make_runtime, tmp_path, email=False) as env:
        await invite(env)
        link = env.sms.sent()[0]["params"]["link"]
        assert (await env.client.get(f"/c/{token_of(link)}")).status == 200
        await drain(env.rt)
        answer = await remind(env)
        assert "候选人页面" in answer and "24 小时" in answer and "绑定" not in answer
        assert len(env.sms.sent()) == 1
        candidate = await Candidate.get(phone=PHONE)
        reminders = await Outbox.filter(
            platform="web", recipient_id=candidate.web_id, idempotency_key__contains=":hr:"
        ).count()
        assert reminders == 1  # it is on the page


async def test_an_offer_made_in_the_hr_group_says_it_went_by_sms_and_shows_no_page_link(
    settings_factory, make_runtime, tmp_path
):
    """HR types /offer in the group for a candidate with only a phone: the bot sends the
    invite by SMS itself and says so; the candidate's page link stays out of the group."""
    async with reach_env(settings_factory, make_runtime, tmp_path, email=False) as env:
        await ask(env.rt, "/job 后端工程师 上海", group="hr_group")
        summary = await ask(env.rt, f"/offer 王五 {PHONE} 后端工程师 25k 2027-03-01",
                            group="hr_group")  # fmt: skip
        assert "确认" in summary["text"]
        answer = await ask(env.rt, "确认", group="hr_group")
        assert "短信" in answer["text"] and "邀请码" in answer["text"], answer["text"]
        assert "/c/" not in answer["text"] and PUBLIC not in answer["text"]
        (sms,) = env.sms.sent()
        assert sms["params"]["name"] == "王五" and sms["params"]["link"].startswith(PUBLIC)
