"""Callbacks exactly as WeCom and Feishu send them, for the load generator.

WeCom: the message XML encrypted with the EncodingAESKey by wechatpy's
`WeChatCrypto.encrypt_message` (AES-256-CBC, corp id appended) and signed with the Token;
the signature, timestamp and nonce travel in the query string. Feishu: a schema 2.0
`im.message.receive_v1` event, AES-256-CBC encrypted with sha256(encrypt_key) as the key,
signed over the raw body bytes (X-Lark-* headers). Every callback carries a unique message
id, so each one is a new row for the bot to store.

Payloads are built before a run starts: the load generator then spends its CPU on
sending, not on encrypting.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.enterprise.crypto import WeChatCrypto

# Test credentials (never real ones): the temp config of the bot under test uses them.
WECOM = {
    "corp_id": "ww_bench_corp",
    "agent_id": 1000002,
    "secret": "bench-app-secret",
    "token": "benchToken123",
    "encoding_aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",  # 43 characters
}
FEISHU = {
    "app_id": "cli_bench_app",
    "app_secret": "bench-app-secret",
    "verification_token": "bench-verification-token",
    "encrypt_key": "bench-encrypt-key",
}

# (method, url, headers, body): what bench/loadgen.py sends.
Request = tuple[str, str, dict[str, str], bytes]

_ENCRYPT = re.compile(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>")
_SIGNATURE = re.compile(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>")
_counter = itertools.count(1)


def _unique() -> str:
    """A prefix no earlier run used: ids stay unique across runs on one database."""
    return f"{os.getpid()}{int(time.time() * 1000) % 10**9:09d}{next(_counter):03d}"


@dataclass(frozen=True)
class Callback:
    request: Request
    event_id: str  # the de-duplication key the bot stores (InboundEvent.event_id)


# -- WeCom --------------------------------------------------------------------------------


class WecomCallbacks:
    """Encrypted, signed text-message callbacks for `POST /wecom/callback`."""

    platform = "wecom"

    def __init__(self, base_url: str):
        self.url = base_url.rstrip("/") + "/wecom/callback"
        self.crypto = WeChatCrypto(WECOM["token"], WECOM["encoding_aes_key"], WECOM["corp_id"])

    def text(self, user: str, content: str, msg_id: int | None = None) -> Callback:
        msg_id = msg_id or int(_unique())
        now = str(int(time.time()))
        plain = (
            f"<xml><ToUserName><![CDATA[{WECOM['corp_id']}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{now}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{msg_id}</MsgId><AgentID>{WECOM['agent_id']}</AgentID></xml>"
        )
        nonce = str(msg_id % 10**9)
        reply = self.crypto.encrypt_message(plain, nonce, now)
        encrypted = _ENCRYPT.search(reply).group(1)
        signature = _SIGNATURE.search(reply).group(1)
        body = (
            f"<xml><ToUserName><![CDATA[{escape(WECOM['corp_id'])}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<AgentID><![CDATA[{WECOM['agent_id']}]]></AgentID></xml>"
        )
        url = f"{self.url}?msg_signature={signature}&timestamp={now}&nonce={nonce}"
        headers = {"Content-Type": "text/xml"}
        return Callback(("POST", url, headers, body.encode()), f"msg:{msg_id}")

    def batch(self, count: int, users: int = 1000) -> list[Callback]:
        """`count` distinct messages from `users` distinct members."""
        prefix = int(_unique()) * 100_000
        return [
            self.text(f"bench_u{i % users}", f"你好 {i}", msg_id=prefix + i) for i in range(count)
        ]


# -- Feishu -------------------------------------------------------------------------------


def feishu_encrypt(encrypt_key: str, plaintext: bytes) -> str:
    """base64(IV + AES-256-CBC(PKCS7(plaintext))), key = sha256(encrypt_key)."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def feishu_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


class FeishuCallbacks:
    """Encrypted, signed `im.message.receive_v1` events for `POST /feishu/events`."""

    platform = "feishu"

    def __init__(self, base_url: str):
        self.url = base_url.rstrip("/") + "/feishu/events"

    def payload(
        self, open_id: str, text: str, message_id: str | None = None, unique: str = ""
    ) -> dict[str, Any]:
        """The plain schema 2.0 event (what the long connection carries as it is)."""
        unique = unique or _unique()
        message_id = message_id or f"om_bench_{unique}"
        millis = str(int(time.time() * 1000))
        return {
            "schema": "2.0",
            "header": {
                "event_id": f"ev_bench_{unique}",
                "event_type": "im.message.receive_v1",
                "create_time": millis,
                "token": FEISHU["verification_token"],
                "app_id": FEISHU["app_id"],
                "tenant_key": "tenant_bench",
            },
            "event": {
                "sender": {
                    "sender_id": {"open_id": open_id, "union_id": f"on_{open_id}"},
                    "sender_type": "user",
                    "tenant_key": "tenant_bench",
                },
                "message": {
                    "message_id": message_id,
                    "create_time": millis,
                    "chat_id": f"oc_p2p_{open_id}",
                    "chat_type": "p2p",
                    "message_type": "text",
                    "content": json.dumps({"text": text}, ensure_ascii=False),
                },
            },
        }

    def event(self, open_id: str, text: str, message_id: str | None = None) -> Callback:
        unique = _unique()
        payload = self.payload(open_id, text, message_id, unique)
        message_id = payload["event"]["message"]["message_id"]
        plain = json.dumps(payload, ensure_ascii=False).encode()
        body = json.dumps({"encrypt": feishu_encrypt(FEISHU["encrypt_key"], plain)}).encode()
        timestamp, nonce = str(int(time.time())), unique[-12:]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": feishu_signature(timestamp, nonce, FEISHU["encrypt_key"], body),
        }
        return Callback(("POST", self.url, headers, body), message_id)

    def batch(self, count: int, users: int = 1000) -> list[Callback]:
        prefix = _unique()
        return [
            self.event(f"ou_bench_{i % users}", f"你好 {i}", message_id=f"om_b{prefix}_{i}")
            for i in range(count)
        ]


def builders(base_url: str) -> dict[str, WecomCallbacks | FeishuCallbacks]:
    return {"wecom": WecomCallbacks(base_url), "feishu": FeishuCallbacks(base_url)}


def with_bad_signature(cb: Callback) -> Request:
    """The same request with a forged signature (the bot must refuse and store nothing)."""
    method, url, headers, body = cb.request
    if "X-Lark-Signature" in headers:
        return method, url, {**headers, "X-Lark-Signature": "0" * 64}, body
    return (
        method,
        re.sub(r"msg_signature=[0-9a-f]+", "msg_signature=" + "0" * 40, url),
        headers,
        body,
    )
