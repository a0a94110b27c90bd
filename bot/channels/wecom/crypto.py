"""WeCom callback security: signature, age, AES decryption and receive-id, without I/O.

wechatpy's `WeChatCrypto` does the AES. What is around it lives here because wechatpy
compares signatures with `!=` (not constant time), checks no timestamp, parses the outer
XML before verifying anything, and raises four unrelated exception types for a bad
request. Everything here raises `Rejected(status, reason)` for the HTTP edge to answer;
`Rejected` and the age limit are the ones every platform shares (bot/channels/platform/).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from bot.channels.platform.age import check_age
from bot.channels.platform.errors import Rejected

# WeCom's XML is at most four levels deep (xml > SendPicsInfo > PicList > item) and has a
# few dozen elements; anything far beyond is not WeCom's and is refused while parsing.
MAX_DEPTH = 12
MAX_ELEMENTS = 2_000


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's msg_signature: sha1 over the four strings, sorted."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()  # noqa: S324 - the platform's algorithm


def parse_xml(data: bytes | str) -> dict[str, Any]:
    """The root element's children as a dict: text for leaves, dicts for nested elements,
    lists for repeated tags. DTDs, entity declarations and external references are
    refused (XML bombs, XXE), as is XML deeper than MAX_DEPTH or with more than
    MAX_ELEMENTS elements — those and anything unparsable are a 400.

    Straight on expat (C), building the dict as elements close: the pure-Python
    ElementTree parser defusedxml needs, with a tree built and walked after, was a fifth
    of `serve`'s CPU per WeCom callback (docs/performance.md)."""
    builder = _DictBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _forbid("DTDForbidden")
    parser.EntityDeclHandler = _forbid("EntitiesForbidden")
    parser.UnparsedEntityDeclHandler = _forbid("EntitiesForbidden")
    parser.ExternalEntityRefHandler = _forbid("ExternalReferenceForbidden")
    try:
        parser.Parse(data, True)
    except _TooDeep as exc:
        raise Rejected(400, str(exc)) from None
    except _Forbidden as exc:
        raise Rejected(400, f"not acceptable XML ({exc})") from None
    except expat.ExpatError:
        raise Rejected(400, "not acceptable XML (ParseError)") from None
    except ValueError:  # e.g. a multi-byte encoding expat does not read
        raise Rejected(400, "not acceptable XML (ValueError)") from None
    return builder.root if isinstance(builder.root, dict) else {}


class _TooDeep(Exception):
    pass


class _Forbidden(Exception):
    pass


def _forbid(name: str):
    def handler(*_args: Any) -> None:
        raise _Forbidden(name)

    return handler


class _DictBuilder:
    """expat's callbacks → the value of each element as it closes (no tree, no recursion):
    its text when it has no child elements, else a dict of its children's values."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, dict[str, Any], list[str]]] = []
        self.count = 0
        self.root: Any = None

    def start(self, tag: str, _attrs: Any) -> None:
        self.count += 1
        if len(self.stack) >= MAX_DEPTH:
            raise _TooDeep(f"XML nested deeper than {MAX_DEPTH} levels")
        if self.count > MAX_ELEMENTS:
            raise _TooDeep(f"XML with more than {MAX_ELEMENTS} elements")
        self.stack.append(("{" + tag if "}" in tag else tag, {}, []))

    def data(self, text: str) -> None:
        if self.stack:
            self.stack[-1][2].append(text)

    def end(self, _tag: str) -> None:
        tag, children, text = self.stack.pop()
        value: Any = children if children else "".join(text).strip()
        if not self.stack:
            self.root = value
            return
        out = self.stack[-1][1]
        if tag in out:
            current = out[tag]
            out[tag] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            out[tag] = value


class CallbackCrypto:
    """Verifies and opens callbacks for one app (token, EncodingAESKey, corp id)."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str):
        self.token = token
        self.corp_id = corp_id
        # Raises (binascii.Error / AssertionError) on a malformed key: the channel reports it.
        self._crypto = WeChatCrypto(token, encoding_aes_key, corp_id)

    def check(
        self, msg_signature: str, timestamp: str, nonce: str, encrypted: str, now: datetime
    ) -> None:
        """Age first (cheap), then the signature in constant time."""
        self.check_age(timestamp, now)
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise Rejected(403, "bad msg_signature")

    @staticmethod
    def check_age(timestamp: str, now: datetime) -> None:
        """WeCom's timestamp is whole seconds; the limit is the shared one."""
        try:
            sent: float | None = datetime.fromtimestamp(int(timestamp), UTC).timestamp()
        except (ValueError, OverflowError, OSError):
            sent = None
        check_age(sent, now)

    def verify_url(
        self, msg_signature: str, timestamp: str, nonce: str, echostr: str, now: datetime
    ) -> str:
        """GET URL verification: the decrypted echostr, to be echoed as plain text."""
        self.check(msg_signature, timestamp, nonce, echostr, now)
        return self._open(
            lambda: self._crypto.check_signature(msg_signature, timestamp, nonce, echostr)
        )

    def open_callback(
        self, msg_signature: str, timestamp: str, nonce: str, body: bytes, now: datetime
    ) -> str:
        """POST: the decrypted message XML (still to be parsed). What can be checked
        before parsing is (the age); the signature covers the Encrypt element, so the
        outer XML is parsed first — bounded in depth and size (parse_xml)."""
        self.check_age(timestamp, now)
        outer = parse_xml(body)
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Rejected(400, "no Encrypt element")
        self.check(msg_signature, timestamp, nonce, encrypted, now)
        return self._open(
            lambda: self._crypto.decrypt_message(
                {"Encrypt": encrypted}, msg_signature, timestamp, nonce
            )
        )

    @staticmethod
    def _open(decrypt) -> str:
        try:
            plain = decrypt()
        except InvalidCorpIdException:
            raise Rejected(403, "message is for another corp id") from None
        except InvalidSignatureException:
            raise Rejected(403, "bad msg_signature") from None
        except Exception as exc:  # noqa: BLE001 - bad base64/AES/UTF-8: the sender is not WeCom
            raise Rejected(400, f"cannot decrypt ({type(exc).__name__})") from None
        if not isinstance(plain, str):
            raise Rejected(400, "cannot decrypt")
        return plain
