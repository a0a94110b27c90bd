"""Feishu callback crypto against the official vector and the SDK (no network)."""

import json

import pytest

from bot.channels.feishu.crypto import decrypt, signature
from bot.channels.platform.errors import Rejected
from tests.standins.feishu import encrypt, sign

# Official vector, copied as-is from Feishu's "接收事件" doc (Python/Java/Go samples).
OFFICIAL_KEY = "test key"
OFFICIAL_ENCRYPT = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="
OFFICIAL_PLAINTEXT = b"hello world"

# An encrypted URL challenge (IV = bytes 0..15) that lark-oapi's dispatcher accepts.
CHALLENGE_ENCRYPT = (
    "AAECAwQFBgcICQoLDA0ODw9mLTIAZS9jAmGTQ1wAhHpnBHVL2wRjH9rPunQdQC1vE6jfvtdYbhQMfwUfQ7wuqy4X"
    "3Mr7UJw2y9wdt/Vt34D1dAmNrNclsr8yv60J92fZ"
)


def test_official_vector_decrypts_to_hello_world():
    assert decrypt(OFFICIAL_KEY, OFFICIAL_ENCRYPT) == OFFICIAL_PLAINTEXT


def test_encrypted_challenge_vector():
    plain = json.loads(decrypt(OFFICIAL_KEY, CHALLENGE_ENCRYPT))
    assert plain == {"challenge": "ajls384kdjx98XX", "token": "vtoken", "type": "url_verification"}


def test_signature_vector_over_raw_body():
    body = b'{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}'
    expected = "69c61fa99760d59824d588297c0036194769fb54331682c9cbcd93e85b9a8aad"
    assert signature("1700000000", "abc123", OFFICIAL_KEY, body) == expected
    # The tests' sender signs the same way.
    assert sign("1700000000", "abc123", OFFICIAL_KEY, body) == expected
    # One byte more (e.g. re-serialised JSON with a space) is a different signature.
    assert signature("1700000000", "abc123", OFFICIAL_KEY, body + b" ") != expected


def test_test_sender_encrypts_like_feishu():
    """The stand-in's encryption is what the official SDK decrypts (an outside check that
    our tests speak real Feishu, not just agree with ourselves)."""
    from lark_oapi.core.utils import AESCipher

    payload = json.dumps({"hello": "世界"}, ensure_ascii=False).encode()
    encrypted = encrypt("some key", payload)
    assert AESCipher("some key").decrypt_str(encrypted) == payload.decode()
    assert decrypt("some key", encrypted) == payload


@pytest.mark.parametrize(
    "key, encrypted",
    [
        ("wrong key", OFFICIAL_ENCRYPT),  # padding check fails
        (OFFICIAL_KEY, "not base64 at all!"),
        (OFFICIAL_KEY, "AAAA"),  # shorter than IV + one block
        (OFFICIAL_KEY, OFFICIAL_ENCRYPT[:-4] + "AAA="),  # corrupted last block
    ],
)
def test_bad_ciphertext_is_rejected_not_crashed(key, encrypted):
    with pytest.raises(Rejected) as info:
        decrypt(key, encrypted)
    assert info.value.status == 400
