"""`offerbot doctor`'s checks of the routes outside chat: SMTP login and the SMS signature.

Neither sends anything to anyone (docs/sms-email.md, "Checking the set-up"):
- SMTP: connect (TLS / STARTTLS as configured), log in, QUIT;
- SMS: Aliyun's QuerySmsSign, a signed read-only call of the same API as SendSms. Its
  answer proves the AccessKey, the request signature and the SMS permission, and says
  whether `sms.sign_name` is approved; QuerySmsTemplate then asks the same of each
  template code. SendSms has no dry run, and a real SMS would cost money and reach a
  person.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import aiosmtplib

from bot.channels.base import TransientError
from bot.channels.email.channel import smtp_options
from bot.channels.sms.api import AliyunRefusal, call
from bot.config import Settings

SMS_FIXES = {
    "SignatureDoesNotMatch": "sms.access_key_secret was refused: copy the AccessKey Secret "
    "again (RAM 访问控制 → 用户 → the user → AccessKey); no spaces around it",
    "InvalidAccessKeyId.NotFound": "sms.access_key_id is unknown: copy the AccessKey ID from "
    "RAM 访问控制 → 用户 → the user → AccessKey",
    "InvalidAccessKeyId.Inactive": "the AccessKey is disabled: enable it in RAM 访问控制",
    "isp.RAM_PERMISSION_DENY": "the AccessKey's user may not use SMS: grant it "
    "AliyunDysmsFullAccess (or a custom policy with dysms:*) in RAM 访问控制",
    "Forbidden.RAM": "the AccessKey's user may not use SMS: grant it AliyunDysmsFullAccess",
    "isv.SMS_SIGN_ILLEGAL": "sms.sign_name is not one of this account's 签名: copy it from "
    "短信服务控制台 → 国内消息 → 签名管理",
    "isv.SMS_TEMPLATE_ILLEGAL": "the template code is not this account's: copy it from "
    "短信服务控制台 → 国内消息 → 模板管理 (模板CODE, SMS_…)",
}
STATUS = {0: "审核中 (under review)", 1: "approved", 2: "审核未通过 (rejected)"}


async def reach_checks(settings: Settings, http: aiohttp.ClientSession, check: Any) -> list:
    """The checks for [sms] / [email] when enabled; `check` is the doctor's Check type."""
    checks = []
    if settings.sms.enabled:
        checks += await _sms(settings, http, check)
    if settings.email.enabled:
        checks.append(await _smtp(settings, check))
    if settings.server.public_url:
        checks.append(await _public_url(settings, http, check))
    elif settings.sms.enabled or settings.email.enabled:
        checks.append(
            check(
                "candidate page link",
                False,
                "server.public_url is empty: SMS and e-mail would carry no working link",
                "set server.public_url to the address candidates open, e.g. "
                "https://hr.example.com (docs/candidate-page.md)",
            )
        )
    return checks


async def _public_url(settings: Settings, http: aiohttp.ClientSession, check: Any) -> Any:
    """The address candidates open reaches this server: GET {public_url}/healthz."""
    url = f"{settings.server.public_url}/healthz"
    fix = (
        "make server.public_url reach this server: DNS, the reverse proxy forwarding to "
        f"{settings.server.host}:{settings.server.port}, HTTPS certificate (docs/candidate-page.md)"
    )
    try:
        async with http.get(url, allow_redirects=False) as resp:
            body = await resp.json(content_type=None) if resp.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return check("public url", False, f"{url}: {type(exc).__name__}", fix)
    if not isinstance(body, dict) or body.get("status") != "ok":
        return check("public url", False, f"{url} answered {resp.status}, not offerbot", fix)
    return check("public url", True, f"{url} answers")


async def _sms(settings: Settings, http: aiohttp.ClientSession, check: Any) -> list:
    cfg = settings.sms
    unreachable = f"check sms.api_base_url ({cfg.api_base_url}) and the outbound network"
    try:
        answer = await call(http, cfg, "QuerySmsSign", {"SignName": cfg.sign_name})
    except TransientError as exc:
        return [check("sms signature", False, str(exc)[:300], unreachable)]
    except AliyunRefusal as exc:
        fix = SMS_FIXES.get(str(exc.code), f"look up Aliyun error code {exc.code}")
        return [check("sms signature", False, f"refused ({exc.code})", fix)]
    checks = [check("sms signature", True, f"accepted for AccessKey {cfg.access_key_id}")]
    status = answer.get("SignStatus")
    checks.append(
        check(
            "sms 签名",
            status == 1,
            f"{cfg.sign_name!r}: {STATUS.get(status, status)}",
            ""
            if status == 1
            else "wait for the review or apply again in 短信服务控制台 → 签名管理",
        )
    )
    templates = {"template_invite": cfg.template_invite, "template_reminder": cfg.template_reminder}
    for key, code in templates.items():
        if not code:
            continue
        checks.append(await _template(settings, http, check, key, code))
    return checks


async def _template(
    settings: Settings, http: aiohttp.ClientSession, check: Any, key: str, code: str
) -> Any:
    name = f"sms {key}"
    try:
        answer = await call(http, settings.sms, "QuerySmsTemplate", {"TemplateCode": code})
    except TransientError as exc:
        return check(name, False, str(exc)[:300], "try again; check the outbound network")
    except AliyunRefusal as exc:
        fix = SMS_FIXES.get(str(exc.code), f"look up Aliyun error code {exc.code}")
        return check(name, False, f"{code}: refused ({exc.code})", f"sms.{key}: {fix}")
    status = answer.get("TemplateStatus")
    fix = "" if status == 1 else "wait for the review, or apply again (模板管理)"
    return check(name, status == 1, f"{code}: {STATUS.get(status, status)}", fix)


async def _smtp(settings: Settings, check: Any) -> Any:
    cfg = settings.email
    where = f"{cfg.smtp_host}:{cfg.smtp_port} ({cfg.security})"
    options = smtp_options(cfg, settings.delivery.http_timeout.total_seconds())
    username, password = options.pop("username"), options.pop("password")
    client = aiosmtplib.SMTP(**options)
    try:
        await client.connect()
        if username:
            await client.login(username, password or "")
        await client.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        return check(
            "smtp login",
            False,
            f"{where}: login refused ({exc.code})",
            "check email.username and email.password; QQ邮箱 / 163 / 企业邮 with 安全登录 need "
            "the 授权码 / 客户端专用密码, not the web password",
        )
    except (aiosmtplib.SMTPNotSupported, ssl.SSLError) as exc:
        return check(
            "smtp login",
            False,
            f"{where}: {type(exc).__name__}",
            "check email.security (465: tls, 587: starttls) and, for a company certificate, "
            "email.ca_file",
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return check(
            "smtp login",
            False,
            f"{where}: {type(exc).__name__}",
            "check email.smtp_host, email.smtp_port and that outbound SMTP is allowed",
        )
    finally:
        client.close()
    detail = f"{where}: logged in as {username}" if username else f"{where}: connected (no login)"
    return check("smtp login", True, detail)
