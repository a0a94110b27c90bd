"""微信客服 (kf): pull the messages a `kf_msg_or_event` callback announces.

The callback carries no content, only a token (valid 10 minutes) and the kf account id.
The worker — never the webhook — calls kf/sync_msg from the cursor persisted per account,
page by page while `has_more`, and stores each customer message as its own inbound event
(`kf:<msgid>`, so a re-sync never duplicates), then saves the new cursor. Messages and
cursor are written in the worker's transaction: both or neither.

An enter_session event (the candidate opened our entry link) may carry a welcome code:
one message, within 20 s, the only way to speak before the candidate has written. It is
kept in Redis for the channel, which sends the next message to that candidate with it.

The worker's handler that starts a sync is bot/flows/kf_sync.py (flows sit above channels).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bot import metrics
from bot.channels.base import Inbound, PermanentError
from bot.channels.wecom.parse import KF_PREFIX, kf_inbound
from bot.storage.models import InboundEvent, KeyValue

if TYPE_CHECKING:
    from bot.channels.wecom.channel import WecomChannel
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

WELCOME_CODE_SECONDS = 20  # WeCom: a welcome code works once, within 20 s of the event
_TAKE = "local v = redis.call('GET', KEYS[1]); redis.call('DEL', KEYS[1]); return v"

MAX_PAGES = 50  # a sync never loops forever, whatever the server says about has_more
# The new rows are committed with the worker's transaction, after this handler returns:
# their jobs start a moment later so they find them (else the sweeper would, later).
ENQUEUE_DELAY = timedelta(seconds=1)


def cursor_key(open_kfid: str) -> str:
    return f"wecom:kf_cursor:{open_kfid}"


def _welcome_key(external_userid: str) -> str:
    return f"offerbot:wecom:kf_welcome:{external_userid}"


async def keep_welcome_code(redis: Any, inbound: Inbound) -> None:
    """Remember an enter_session's welcome code for the customer's first message."""
    code = inbound.event.get("welcome_code")
    if redis is None or not code or inbound.at is None:
        return
    left = WELCOME_CODE_SECONDS - (datetime.now(UTC) - inbound.at).total_seconds()
    if left >= 1:
        try:
            await redis.set(_welcome_key(inbound.sender_id[len(KF_PREFIX) :]), code, ex=int(left))
        except RedisError as exc:  # the first message then goes by kf/send_msg
            log.warning("kf welcome code not kept: %s", exc)


async def take_welcome_code(redis: Any, external_userid: str) -> str | None:
    """The customer's unused welcome code, if still fresh — taken: it works once."""
    if redis is None:
        return None
    try:
        code = await redis.eval(_TAKE, 1, _welcome_key(external_userid))
    except RedisError as exc:
        log.warning("kf welcome code not read: %s", exc)
        return None
    return code.decode() if isinstance(code, bytes) else code


async def sync_kf(rt: Runtime, channel: WecomChannel, open_kfid: str, token: str) -> list[int]:
    """Fetch and store everything new for one kf account; returns the new inbound ids.
    A TransientError propagates: the worker retries the whole event (nothing was kept)."""
    key = cursor_key(open_kfid)
    row = await KeyValue.get_or_none(key=key)
    cursor = str(row.value.get("cursor", "")) if row and isinstance(row.value, dict) else ""
    stored: list[int] = []
    for _ in range(MAX_PAGES):
        try:
            page = await channel.kf_sync_page(open_kfid, cursor, token)
        except PermanentError as exc:
            if token:  # the event's token lives 10 minutes: a late retry goes without it
                log.info("kf sync with the event token refused (%s); retrying without", exc)
                token = ""
                continue
            log.error("kf sync for %s refused: %s", open_kfid, exc)
            break
        messages = page.get("msg_list")
        for msg in messages if isinstance(messages, list) else []:
            inbound = kf_inbound(msg)
            if inbound is not None:
                pk = await _store_new(inbound)
                if pk is not None:
                    stored.append(pk)
                    if inbound.kind == "event":
                        await keep_welcome_code(rt.redis, inbound)
        cursor = str(page.get("next_cursor") or cursor)
        if page.get("has_more") != 1:
            break
    await KeyValue.update_or_create(defaults={"value": {"cursor": cursor}}, key=key)
    at = datetime.now(UTC) + ENQUEUE_DELAY  # arq's clock, not the runtime's (tests move that)
    for pk in stored:
        await rt.enqueuer.enqueue("process_inbound", pk, job_id=f"inbound:{pk}", at=at)
    return stored


async def _store_new(inbound: Inbound) -> int | None:
    """Insert in the current transaction unless already stored (syncs of one account run
    one at a time: the worker locks the account's conversation)."""
    if await InboundEvent.filter(platform=inbound.platform, event_id=inbound.event_id).exists():
        metrics.INBOUND.labels(inbound.platform, "duplicate").inc()
        return None
    payload: dict[str, Any] = inbound.model_dump(mode="json")
    row = await InboundEvent.create(
        platform=inbound.platform, event_id=inbound.event_id, kind=inbound.kind, payload=payload
    )
    metrics.INBOUND.labels(inbound.platform, "stored").inc()
    return row.id
