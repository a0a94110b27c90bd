"""The `sms` channel: Aliyun 短信服务 SendSms (docs/sms-email.md). Send only.

An SMS is a template Aliyun approved beforehand: the bot sends the template code and its
parameters (`name`, `company`, `job`, `link`), never free text. The address is a mainland
China mobile number; anything else is refused here, before Aliyun is asked.

Aliyun's answers: flow control (`isv.BUSINESS_LIMIT_CONTROL`) and throttling are tried
again later; a wrong number, template, signature or AccessKey will never work and gives up
at once, so HR hears of it (docs/sms-email.md, "When every route failed").
"""

from __future__ import annotations

import json
import re

from bot.channels.base import Channel, Outgoing, PermanentError, Recipient, SendResult
from bot.channels.sms.api import call

_SEPARATORS = re.compile(r"[\s\-()]+")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
PARAMS = ("name", "company", "job", "link")
PARAM_MAX = 100  # a template parameter longer than this is cut (Aliyun limits their length)


def china_mobile(raw: str | None) -> str | None:
    """'+86 138-0013-8000' / '0086 13800138000' → '13800138000'; None if it is not a
    mainland China mobile number."""
    if not raw:
        return None
    number = _SEPARATORS.sub("", raw)
    for prefix in ("+86", "0086", "86"):
        if number.startswith(prefix) and len(number) == len(prefix) + 11:
            number = number[len(prefix) :]
            break
    return number if _MOBILE.match(number) else None


class SmsChannel(Channel):
    name = "sms"

    def template_code(self, template: str) -> str:
        """The template code of "invite" / "reminder" ("" when none is configured)."""
        return {"invite": self.cfg.template_invite, "reminder": self.cfg.template_reminder}.get(
            template, ""
        )

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        phone = china_mobile(to.address)
        if phone is None:
            raise PermanentError("not a mainland China mobile number", code="MOBILE_NUMBER")
        code = self.template_code(message.template)
        if not code:
            raise PermanentError(f"no SMS template for {message.template!r}", code="TEMPLATE")
        params = {k: str(message.params.get(k, ""))[:PARAM_MAX] for k in PARAMS}
        answer = await call(
            self.http,
            self.cfg,
            "SendSms",
            {
                "PhoneNumbers": phone,
                "SignName": self.cfg.sign_name,
                "TemplateCode": code,
                "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
                # Echoed in Aliyun's delivery receipts: which outbox row this was.
                "OutId": idempotency_key[:256],
            },
        )
        return SendResult(message_id=str(answer.get("BizId") or "")[:191])
