"""A real SMTP server on 127.0.0.1 (aiosmtpd, in the test's own event loop), for tests.

Modes: `none` (plain), `starttls` (STARTTLS required before anything else) and `tls`
(implicit TLS, port-465 style), with a self-signed certificate for 127.0.0.1 made here with
`cryptography`; `cert_file` is its PEM, which the bot trusts through `[email] ca_file`.
With a username set, AUTH LOGIN/PLAIN is required and checked. `fail_next(code)` answers
the next DATA commands with that SMTP code (451: try later; 550: refused).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import warnings
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME = "hr@example.com"
PASSWORD = "smtp-app-password"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "offerbot test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype, subtype
        return body.get_content()


@dataclass
class SmtpStandin:
    directory: Path
    mode: str = "none"  # none / starttls / tls
    username: str = ""
    password: str = PASSWORD
    received: list[Received] = field(default_factory=list)
    attempts: int = 0  # DATA commands seen (refused ones too)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._failures: deque[int] = deque()
        self._server: asyncio.AbstractServer | None = None
        self.cert_file, self.key_file = self_signed(self.directory)
        self.port = 0

    def fail_next(self, code: int, times: int = 1) -> None:
        self._failures.extend([code] * times)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The `[email]` section that points the bot here."""
        return {
            "enabled": True,
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "security": self.mode,
            "username": self.username,
            "password": self.password if self.username else "",
            "sender": f"招聘组 <{USERNAME}>",
            "ca_file": str(self.cert_file),
            **overrides,
        }

    # -- aiosmtpd hooks -------------------------------------------------------------------

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.attempts += 1
        if self._failures:
            code = self._failures.popleft()
            return f"{code} {'try again later' if code < 500 else 'mailbox unavailable'}"
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == self.username and auth_data.password.decode() == (
            self.password
        )
        self.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 / 535

    # -- lifecycle ------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def _protocol(self) -> SMTP:
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1"}
        if self.mode == "starttls":
            kwargs.update(tls_context=self._context(), require_starttls=True)
        if self.username:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # Implicit TLS encrypts the whole connection, which aiosmtpd cannot see.
                auth_require_tls=self.mode == "starttls",
            )
        with warnings.catch_warnings():  # AUTH over implicit TLS, which aiosmtpd cannot see
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(self, **kwargs)

    async def __aenter__(self) -> SmtpStandin:
        loop = asyncio.get_running_loop()
        ssl_ctx = self._context() if self.mode == "tls" else None
        self._server = await loop.create_server(self._protocol, "127.0.0.1", 0, ssl=ssl_ctx)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
