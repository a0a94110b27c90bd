"""The `email` channel: SMTP through aiosmtplib (docs/sms-email.md). Send only.

Each e-mail has a plain-text part and an HTML part with the same words (the HTML escapes
everything it shows; only the candidate-page link becomes an <a>), comes From the company's
name at `[email] sender`'s address, and carries a Message-ID made from the outbox row's
idempotency key, so a retry of the same row is recognisable as the same message.

The server's answers: 4xx, a dropped connection or a timeout are tried again later; 5xx
(mailbox unknown, refused, login refused) will never work and gives up at once.
"""

from __future__ import annotations

import hashlib
import html
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from typing import TYPE_CHECKING

import aiosmtplib

from bot.channels.base import (
    Channel,
    Outgoing,
    PermanentError,
    Recipient,
    SendResult,
    TransientError,
)

if TYPE_CHECKING:
    from bot.config import EmailSettings


def sender_address(cfg: EmailSettings) -> str:
    """The bare address of `[email] sender` ("HR <hr@example.com>" → "hr@example.com")."""
    return parseaddr(cfg.sender)[1] or cfg.sender.strip()


def html_body(text: str, link: str) -> str:
    """The text as HTML: every character escaped, lines kept, the link clickable."""
    pieces = text.split(link) if link else [text]
    escaped_link = html.escape(link, quote=True)
    anchor = f'<a href="{escaped_link}">{escaped_link}</a>'
    body = anchor.join(html.escape(p, quote=True) for p in pieces).replace("\n", "<br>\n")
    return (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family:sans-serif;line-height:1.6">{body}</body></html>\n'
    )


def build_message(
    cfg: EmailSettings, company: str, to: str, message: Outgoing, idempotency_key: str
) -> EmailMessage:
    address = sender_address(cfg)
    domain = address.rpartition("@")[2] or "offerbot.invalid"
    link = message.params.get("link", "")
    text = message.text if not link or link in message.text else f"{message.text}\n{link}"
    mail = EmailMessage()
    mail["Subject"] = message.title or company
    mail["From"] = formataddr((company, address))
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}@{domain}>"
    mail.set_content(text)
    mail.add_alternative(html_body(text, link), subtype="html")
    return mail


class EmailChannel(Channel):
    name = "email"

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        if "@" not in to.address:
            raise PermanentError("not an e-mail address", code="ADDRESS")
        mail = build_message(
            self.cfg, self.settings.company.name, to.address, message, idempotency_key
        )
        await submit(self.cfg, mail, self.settings.delivery.http_timeout.total_seconds())
        return SendResult(message_id=mail["Message-ID"])


def smtp_options(cfg: EmailSettings, timeout: float) -> dict:
    return {
        "hostname": cfg.smtp_host,
        "port": cfg.smtp_port,
        "username": cfg.username or None,
        "password": cfg.password or None,
        "use_tls": cfg.security == "tls",
        "start_tls": cfg.security == "starttls",
        "cert_bundle": cfg.ca_file or None,
        "timeout": timeout,
    }


async def submit(cfg: EmailSettings, mail: EmailMessage, timeout: float) -> None:
    """Hand the message to the SMTP server; the server's answer sorted as the worker needs
    it. Errors name the SMTP code, never an address."""
    try:
        await aiosmtplib.send(mail, **smtp_options(cfg, timeout))
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        raise _by_code(min(codes) if codes else 550, "recipient refused") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise _by_code(exc.code, type(exc).__name__) from None
    except (aiosmtplib.SMTPNotSupported, ssl.SSLCertVerificationError) as exc:
        # No STARTTLS offered, a certificate not trusted: settings to fix, not to wait out.
        raise PermanentError(f"SMTP: {type(exc).__name__}", code="SMTP_TLS") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TransientError(f"SMTP unreachable: {type(exc).__name__}") from None


def _by_code(code: int, what: str) -> TransientError | PermanentError:
    if 400 <= code < 500:
        return TransientError(f"SMTP {code}: {what}")
    return PermanentError(f"SMTP {code}: {what}", code=f"SMTP{code}")
