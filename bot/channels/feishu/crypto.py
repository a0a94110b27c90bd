"""Feishu callbacks without I/O: decrypt, check signature/token/age.

Events (`im.message.receive_v1`) and card clicks (`card.action.trigger`) arrive at the
same URL, schema 2.0, plain or encrypted (AES-256-CBC, key = sha256(encrypt_key)).
Signature = sha256_hex(timestamp + nonce + encrypt_key + raw body bytes), present when an
encrypt key is configured; URL verification carries none (Feishu's rule). Everything
here raises `Rejected(status, reason)` for the HTTP edge to answer; nothing is stored.
`Rejected` and the age limit are the ones every platform shares (bot/channels/platform/).
What the envelope carries is read in bot/channels/feishu/parse.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.platform.age import check_age
from bot.channels.platform.errors import Rejected

# -- crypto -----------------------------------------------------------------------------


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """Feishu's `{"encrypt": ...}`: base64(IV(16) + AES-256-CBC(PKCS7(plaintext)))."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected(400, "encrypt is not base64") from exc
    if len(raw) < 32 or len(raw) % 16:
        raise Rejected(400, "encrypt has the wrong length")
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:  # wrong key gives garbage padding
        raise Rejected(400, "cannot decrypt (check feishu.encrypt_key)") from exc


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """Over the raw body bytes as received, never a re-serialised copy."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def same_secret(expected: str, given: Any) -> bool:
    """Constant-time comparison (a timing side channel must not reveal the token)."""
    if not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


# -- the request envelope ---------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A request that passed every check: either a URL challenge or an event payload."""

    challenge: str | None
    payload: dict[str, Any]


def _loads(data: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:  # bad JSON, huge ints, absurd nesting
        raise Rejected(400, "body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise Rejected(400, "body must be a JSON object")
    return value


# Seconds since the epoch a Feishu time may name: 1970..2100 (anything else is not a time).
_EARLIEST, _LATEST = 0.0, 4_102_444_800.0


def epoch_seconds(value: Any) -> float | None:
    """Feishu timestamps come as s, ms or µs strings depending on the API. None for
    anything that is not a plausible time: NaN, ±inf, 1e300, negative, booleans."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, str) and len(value) > 32:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if number > 1e14:
        number = number / 1e6
    elif number > 1e11:
        number = number / 1e3
    return number if _EARLIEST <= number <= _LATEST else None


def open_request(
    body: bytes,
    headers: Mapping[str, str],
    *,
    verification_token: str,
    encrypt_key: str,
    now: datetime,
) -> Verified:
    """Decrypt and verify one callback. Raises `Rejected` for anything not from Feishu.
    A signed request's signature is checked before its body is parsed."""
    timestamp = headers.get("X-Lark-Request-Timestamp")
    nonce = headers.get("X-Lark-Request-Nonce")
    sent_signature = headers.get("X-Lark-Signature")
    signed = timestamp is not None and nonce is not None and sent_signature is not None
    if encrypt_key and signed:
        if not all(v.isascii() for v in (timestamp, nonce, sent_signature)):
            raise Rejected(401, "bad signature headers")
        expected = signature(timestamp, nonce, encrypt_key, body)
        if not hmac.compare_digest(expected, sent_signature.lower()):
            raise Rejected(401, "bad signature")
    outer = _loads(body)
    if "encrypt" in outer:
        if not encrypt_key:
            raise Rejected(400, "encrypted body but feishu.encrypt_key is not set")
        if not isinstance(outer["encrypt"], str):
            raise Rejected(400, "encrypt must be a string")
        payload = _loads(decrypt(encrypt_key, outer["encrypt"]))
    else:
        payload = outer
    if payload.get("type") == "url_verification":
        # Feishu sends no signature with the challenge; the token is the proof.
        if not same_secret(verification_token, payload.get("token")):
            raise Rejected(403, "wrong verification token")
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            raise Rejected(400, "challenge must be a string")
        return Verified(challenge=challenge, payload=payload)
    if encrypt_key and not signed:
        raise Rejected(401, "missing signature headers")
    header = payload.get("header")
    if not isinstance(header, dict):
        raise Rejected(400, "not a schema 2.0 event (no header)")
    if not same_secret(verification_token, header.get("token")):
        raise Rejected(403, "wrong verification token")
    check_age(epoch_seconds(timestamp if timestamp is not None else header.get("create_time")), now)
    return Verified(challenge=None, payload=payload)
