"""The `sms` and `email` channels on their own: Aliyun's documented signature vector, phone
numbers, how answers are sorted into retry / give up, and the e-mail's shape."""

from __future__ import annotations

import pytest

from bot.channels.base import Needs, Outgoing, PermanentError, Recipient, TransientError
from bot.channels.email.channel import build_message, html_body
from bot.channels.sms.api import signature, string_to_sign
from bot.channels.sms.channel import SmsChannel, china_mobile
from bot.config import EmailSettings
from tests.standins.aliyun_sms import AliyunSmsStandin

# Aliyun's own example (the RPC signature page): DescribeRegions signed with "testsecret".
VECTOR = {
    "Timestamp": "2016-02-23T12:46:24Z",
    "Format": "XML",
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "Version": "2014-05-26",
    "SignatureVersion": "1.0",
}


def test_the_signature_matches_aliyuns_documented_example():
    assert string_to_sign("GET", VECTOR) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26"
    )
    assert signature("testsecret", "GET", VECTOR) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert signature("othersecret", "GET", VECTOR) != "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_spaces_stars_and_tildes_are_encoded_as_aliyun_wants():
    params = {"A": "a b*c~d+e/中"}
    assert "a%2520b%252Ac~d%252Be%252F%25E4%25B8%25AD" in string_to_sign("GET", params)


@pytest.mark.parametrize(
    "raw, number",
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("(+86) 199 0000 0000", "19900000000"),
        ("12800138000", None),  # no such mobile prefix
        ("1380013800", None),  # one digit short
        ("+1 415 555 0100", None),
        ("010-12345678", None),  # a landline
        ("", None),
        (None, None),
    ],
)
def test_mainland_mobile_numbers(raw, number):
    assert china_mobile(raw) == number


@pytest.fixture
async def sms_channel(settings_factory):
    import aiohttp

    async with AliyunSmsStandin() as standin, aiohttp.ClientSession() as http:
        channel = SmsChannel(Needs(settings_factory(sms=standin.settings()), http=http))
        yield standin, channel


def _sms(template="invite") -> Outgoing:
    params = {"name": "张三", "company": "示例科技", "job": "后端", "link": "https://x/c/t"}
    return Outgoing(text="…", template=template, params=params)


@pytest.mark.parametrize(
    "code, kind",
    [
        ("isv.BUSINESS_LIMIT_CONTROL", TransientError),
        ("Throttling.User", TransientError),
        ("isp.SYSTEM_ERROR", TransientError),
        ("isv.MOBILE_NUMBER_ILLEGAL", PermanentError),
        ("isv.TEMPLATE_MISSING_PARAMETERS", PermanentError),
        ("isv.SMS_TEMPLATE_ILLEGAL", PermanentError),
        ("isv.SMS_SIGNATURE_ILLEGAL", PermanentError),
        ("isv.AMOUNT_NOT_ENOUGH", PermanentError),
    ],
)
async def test_aliyun_codes_are_sorted_into_retry_or_give_up(sms_channel, code, kind):
    standin, channel = sms_channel
    standin.fail("SendSms", code)
    with pytest.raises(kind) as err:
        await channel.send(Recipient("user", "13800138000"), _sms(), "k1")
    if kind is PermanentError:
        assert err.value.code == code
    assert "13800138000" not in str(err.value)
    await channel.send(Recipient("user", "13800138000"), _sms(), "k1")  # then it works
    assert len(standin.sent()) == 1


async def test_http_trouble_and_refusals_before_aliyun_is_asked(sms_channel):
    standin, channel = sms_channel
    standin.fail_http(503)
    with pytest.raises(TransientError):
        await channel.send(Recipient("user", "13800138000"), _sms(), "k2")
    standin.fail_http(400, "<html>bad gateway page</html>")
    with pytest.raises(PermanentError):
        await channel.send(Recipient("user", "13800138000"), _sms(), "k2")
    calls = len(standin.calls)
    with pytest.raises(PermanentError):  # not a mainland mobile: Aliyun is not asked
        await channel.send(Recipient("user", "+1 415 555 0100"), _sms(), "k3")
    with pytest.raises(PermanentError):  # no such template configured
        await channel.send(Recipient("user", "13800138000"), _sms("unknown"), "k4")
    assert len(standin.calls) == calls


def test_the_email_message_shape():
    cfg = EmailSettings(enabled=True, smtp_host="h", sender="招聘 <hr@example.com>")
    link = "https://hr.example.com/c/abc"
    message = Outgoing(title="主题", text=f"你好 <b>\n{link}", params={"link": link})
    mail = build_message(cfg, "示例&科技", "a@b.cn", message, "offer:1:invite:email")
    again = build_message(cfg, "示例&科技", "a@b.cn", message, "offer:1:invite:email")
    assert mail["Message-ID"] == again["Message-ID"]  # one key, one message id
    assert mail["Message-ID"].endswith("@example.com>")
    assert "示例&科技" in str(mail["From"]) and "hr@example.com" in str(mail["From"])
    assert mail.get_body(("plain",)).get_content().startswith("你好 <b>")
    html = mail.get_body(("html",)).get_content()
    assert "你好 &lt;b&gt;<br>" in html and f'<a href="{link}">{link}</a>' in html
    bad = 'https://e.com/"><script>'
    hostile = html_body(f"see {bad}", bad)
    assert "<script>" not in hostile and "&quot;&gt;&lt;script&gt;" in hostile
