"""Binding a platform user to a candidate, so an invited candidate's offer follows in chat.

A candidate the bot cannot reach (no platform id from the ATS, none found by phone or
e-mail) gets an invite: a six-digit `invite_code` and, where a platform has one, an
`invite_url`. Three ways back in, one effect (`bind`):

- the code typed to the bot in a private chat ("123456", "邀请码：123456");
- a WeCom 微信客服 `enter_session` event whose `scene_param` is the code (the entry link);
- the playground link `/playground?code=<code>`: the page sends the same event.

Binding stores the sender's platform id on the candidate, ties the conversation to them,
and hands over to the offer flow, which sends the offer. A code binds once; the same
person sending it again is told they are done, anybody else that it is not valid. Wrong
codes from an unknown sender are counted per conversation (`MAX_FAILED_CODES` an hour),
so six digits cannot be guessed by brute force.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import unicodedata
from datetime import datetime, timedelta

from bot.channels.base import Outgoing
from bot.flows.router import Turn, handles
from bot.privacy import normalize_phone
from bot.services.fx import ADDRESS_FIELDS, Fx, candidate_address
from bot.storage.models import Candidate, Conversation, Offer

log = logging.getLogger(__name__)

# A message that is a code and little else: "123456", "邀请码 123456", "code: 123456。"
CODE_IN_TEXT = re.compile(r"^\D{0,12}?(?<!\d)(\d{6})(?!\d)\D{0,6}$")
MAX_FAILED_CODES = 5
FAILED_CODES_WINDOW = timedelta(hours=1)
PLAYGROUND_INVITE_PATH = "/playground?code={code}"


# -- identities -----------------------------------------------------------------------------


def identity_for(platform: str, address: str) -> tuple[str, str] | None:
    """The Candidate field and value an address is stored as ("kf:abc" → external userid)."""
    plain = None
    for attr, prefix in ADDRESS_FIELDS.get(platform, ()):
        if prefix and address.startswith(prefix):
            return attr, address[len(prefix) :]
        if not prefix and plain is None:
            plain = (attr, address)
    return plain


async def reach(fx: Fx, candidate: Candidate, preferred: str | None) -> tuple[str, str] | None:
    """(platform, address) for the candidate: a known id, else one a platform finds by phone
    or e-mail (stored on the candidate). None: the candidate must be invited."""
    known = candidate_address(candidate, preferred, fx.rt.platforms)
    if known is not None:
        return known
    phone = candidate.phone_norm or normalize_phone(candidate.phone)
    if not (phone or candidate.email):
        return None
    order = sorted(fx.rt.channels.items(), key=lambda item: item[0] != preferred)
    for platform, channel in order:
        try:  # Channel.find_user: None where a platform cannot look people up
            timeout = fx.settings.delivery.http_timeout.total_seconds()
            found = await asyncio.wait_for(channel.find_user(phone, candidate.email), timeout)
        except Exception as exc:  # noqa: BLE001 - a failed look-up means "invite instead"
            log.warning("find_user on %s failed: %s", platform, type(exc).__name__)
            continue
        field = identity_for(platform, found) if found else None
        if field is None:
            continue
        setattr(candidate, field[0], field[1])
        await candidate.save(update_fields=[field[0], "updated_at"])
        await fx.record(candidate.id, "identity_found", {"platform": platform})
        return platform, found
    return None


# -- invites --------------------------------------------------------------------------------


async def new_invite(fx: Fx, offer: Offer) -> tuple[str, str | None]:
    """A fresh six-digit code for the offer, and the first invite link a channel offers."""
    while True:
        code = f"{secrets.randbelow(1_000_000):06d}"
        if not await Offer.filter(invite_code=code).exists():
            break
    url = None
    for channel in fx.rt.channels.values():
        try:  # Channel.invite_link: None where a platform has no entry link
            url = await channel.invite_link(code)
        except Exception as exc:  # noqa: BLE001 - no link is fine: the code still works
            log.warning("invite_link on %s failed: %s", channel.name, type(exc).__name__)
        if url:
            break
    # The playground page is a tester's tool, useless to a real candidate: it is the link
    # only when no real platform is on. Otherwise no link, HR sends the code (docs/privacy.md).
    if url is None and set(fx.rt.channels) == {"web"}:
        url = PLAYGROUND_INVITE_PATH.format(code=code)
    offer.invite_code, offer.invite_url = code, url
    await offer.save(update_fields=["invite_code", "invite_url", "updated_at"])
    return code, url


# -- the turn -------------------------------------------------------------------------------


def code_in(turn: Turn) -> str | None:
    inbound = turn.inbound
    if inbound.kind == "event":
        if inbound.event.get("event") != "enter_session":
            return None
        param = str(inbound.event.get("scene_param") or "").strip()
        return param if re.fullmatch(r"\d{6}", param) else None
    if inbound.kind != "text":
        return None
    match = CODE_IN_TEXT.match(unicodedata.normalize("NFKC", turn.text))
    return match.group(1) if match else None


@handles(priority=20, name="binding")
async def on_invite_code(turn: Turn) -> bool:
    inbound = turn.inbound
    if inbound.chat_type != "p2p":
        return False
    code = code_in(turn)
    if code is None:
        return False
    stranger = turn.candidate is None
    if stranger and await _locked_out(turn):
        await _answer(turn, "offer.bind_locked")
        return True
    # Locked: two people typing one code at the same moment must not both bind.
    offer = await Offer.filter(invite_code=code).select_for_update().first()
    if offer is None or offer.status != "sent":
        # A known candidate typing six digits may mean something else: not ours then.
        if not stranger or inbound.kind == "event":
            return False
        await _count_failure(turn)
        await _answer(turn, "offer.bind_invalid")
        return True
    bound_to = offer.data.get("bound_to")
    me = f"{inbound.platform}:{inbound.sender_id}"
    if bound_to == me:
        await _answer(turn, "offer.bind_already")
        return True
    if bound_to is not None or offer.stage != "awaiting_binding":
        if stranger:
            await _count_failure(turn)
            await _answer(turn, "offer.bind_invalid")
            return True
        return False
    await bind(turn, offer)
    return True


async def bind(turn: Turn, offer: Offer) -> None:
    """Tie the sender to the offer's candidate, then let the offer flow send the offer."""
    from bot.flows.offer import send_offer  # the offer flow builds on binding, not reverse

    fx, inbound = turn.fx, turn.inbound
    candidate = await Candidate.get(id=offer.candidate_id)
    field = identity_for(inbound.platform, inbound.sender_id)
    if field is not None:
        setattr(candidate, field[0], field[1])
        await candidate.save(update_fields=[field[0], "updated_at"])
    context = {k: v for k, v in turn.conversation.context.items() if k != "invite_failures"}
    await Conversation.filter(id=turn.conversation.id).update(
        candidate_id=candidate.id, context=context
    )
    offer.data = {**offer.data, "bound_to": f"{inbound.platform}:{inbound.sender_id}"}
    await offer.save(update_fields=["data", "updated_at"])
    await fx.record(
        candidate.id,
        "candidate_bound",
        {"platform": inbound.platform, "via": "link" if inbound.kind == "event" else "code"},
        offer_id=offer.id,
    )
    await send_offer(fx, offer, candidate, inbound.platform, inbound.sender_id)


async def _answer(turn: Turn, key: str) -> None:
    await turn.reply(Outgoing(text=turn.fx.t(key)), "binding")


def _failures(turn: Turn) -> list[datetime]:
    since = turn.fx.now() - FAILED_CODES_WINDOW
    stamps = turn.conversation.context.get("invite_failures", [])
    return [t for t in map(datetime.fromisoformat, stamps) if t > since]


async def _locked_out(turn: Turn) -> bool:
    return len(_failures(turn)) >= MAX_FAILED_CODES


async def _count_failure(turn: Turn) -> None:
    recent = [*_failures(turn), turn.fx.now()]
    context = {**turn.conversation.context, "invite_failures": [t.isoformat() for t in recent]}
    turn.conversation.context = context
    await Conversation.filter(id=turn.conversation.id).update(context=context)
