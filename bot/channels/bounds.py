"""Sizes a platform's ids must fit before an Inbound is stored (see docs/hardening.md).

A callback whose ids are longer than the columns they end up in (conversation.user_id,
candidate.wecom_user_id / feishu_open_id: 128; outbox and timer keys: 191, built from the
event id plus up to ~50 characters of prefix and suffix) would be acknowledged and then
fail in the worker for ever. Real ids are far shorter (WeCom userids ≤ 64 bytes, Feishu
open_ids ~35 characters), so such a callback is not the platform's: the handler drops
it at the door with a warning, and answers as for any message it has nothing to do with.
"""

from __future__ import annotations

from bot.channels.base import Inbound

ID_MAX = 128  # sender and chat ids: the candidate / conversation columns
EVENT_ID_MAX = 140  # keys derived from it stay within the 191-character key columns
MEDIA_KEY_MAX = 191


def oversized(inbound: Inbound) -> str | None:
    """Which id of `inbound` is too long to store, or None when all fit."""
    if len(inbound.sender_id) > ID_MAX:
        return f"sender id of {len(inbound.sender_id)} characters"
    if len(inbound.chat_id) > ID_MAX:
        return f"chat id of {len(inbound.chat_id)} characters"
    if len(inbound.event_id) > EVENT_ID_MAX:
        return f"event id of {len(inbound.event_id)} characters"
    for media in inbound.media:
        if len(media.key) > MEDIA_KEY_MAX or len(media.message_id) > MEDIA_KEY_MAX:
            return f"media key of {len(media.key)} characters"
    return None
