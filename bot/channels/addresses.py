"""What a platform address says, in one place: nothing above channels/ takes one apart.

An address is a plain string per platform (bot/channels/base.py). Two kinds carry a
prefix: `kf:<external_userid>` — a WeCom 微信客服 customer on personal WeChat — and
`chat:<chat_id>` — a group chat (HR commands are answered where they were typed). Every
other address is the platform's own user id. A candidate row keeps each identity in its
own column (`ADDRESS_FIELDS`); the prefix is added and removed here only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.channels.base import Inbound

KF_PREFIX = "kf:"
GROUP_PREFIX = "chat:"

# Which candidate column holds a platform's addresses (and the prefix it is stored
# without), in order of preference.
ADDRESS_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "wecom": (("wecom_user_id", ""), ("wecom_external_userid", KF_PREFIX)),
    "feishu": (("feishu_open_id", ""),),
    "web": (("web_id", ""),),
}
# Every candidate column that holds a platform identity.
IDENTITY_COLUMNS: tuple[str, ...] = tuple(
    attr for fields in ADDRESS_FIELDS.values() for attr, _prefix in fields
)


def is_kf_address(address: str) -> bool:
    """A WeCom 微信客服 customer (session window, no cards)."""
    return address.startswith(KF_PREFIX)


def is_group_address(address: str) -> bool:
    return address.startswith(GROUP_PREFIX)


def group_address(chat_id: str) -> str:
    return GROUP_PREFIX + chat_id


def conversation_address(inbound: Inbound) -> str:
    """Where the conversation of `inbound` lives and is answered: the group for a group
    message, else the sender."""
    if inbound.chat_type == "group":
        return group_address(inbound.chat_id)
    return inbound.sender_id


def identity_for(platform: str, address: str) -> tuple[str, str] | None:
    """The candidate column and value an address is stored as ("kf:abc" → external
    userid "abc"); None on a platform with no candidate identities."""
    plain = None
    for attr, prefix in ADDRESS_FIELDS.get(platform, ()):
        if prefix and address.startswith(prefix):
            return attr, address[len(prefix) :]
        if not prefix and plain is None:
            plain = (attr, address)
    return plain


def addresses_of(candidate: Any, platform: str) -> Iterator[str]:
    """The addresses a candidate row holds on `platform`, in order of preference."""
    for attr, prefix in ADDRESS_FIELDS.get(platform, ()):
        value = getattr(candidate, attr, None)
        if value:
            yield prefix + value
