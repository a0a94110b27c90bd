"""Binding a platform user to a candidate, so an invited candidate's offer follows in chat.

A candidate the bot cannot reach (no platform id from the ATS, none found by phone or
e-mail) gets an invite: a six-digit `invite_code` and, where a platform has one, an
`invite_url`. Four ways back in, one effect (`bind`):

- the code typed to the bot in a private chat ("123456", "邀请码：123456");
- a WeCom 微信客服 `enter_session` event whose `scene_param` is the code (the entry link);
- the playground link `/playground?code=<code>`: the page sends the same event;
- the candidate page `/c/<token>` (docs/candidate-page.md): opening it sends the same event.

Binding stores the sender's platform id on the candidate, ties the conversation to them,
and hands over to the offer flow, which sends the offer. (Finding a candidate's address and
handing out invites is bot/services/identity.py.) A code binds once; the same person
sending it again is told they are done, anybody else that it is not valid. Wrong
codes from an unknown sender are counted per conversation (`MAX_FAILED_CODES` an hour),
so six digits cannot be guessed by brute force.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime, timedelta

from bot.channels.addresses import identity_for
from bot.channels.base import Outgoing
from bot.flows.filters import private
from bot.flows.offer_send import send_offer
from bot.flows.router import Filter, Router, SkipHandler, Turn
from bot.storage.context import conversation_context, save_context
from bot.storage.models import Candidate, Offer
from bot.storage.offer_data import offer_data, set_offer_data

log = logging.getLogger(__name__)

# A message that is a code and little else: "123456", "邀请码 123456", "code: 123456。"
CODE_IN_TEXT = re.compile(r"^\D{0,12}?(?<!\d)(\d{6})(?!\d)\D{0,6}$")
MAX_FAILED_CODES = 5
FAILED_CODES_WINDOW = timedelta(hours=1)


# -- the turn -------------------------------------------------------------------------------


def code_in(turn: Turn) -> str | None:
    inbound = turn.inbound
    if inbound.kind == "event":
        param = inbound.binding_code.strip()
        return param if re.fullmatch(r"\d{6}", param) else None
    if inbound.kind != "text":
        return None
    match = CODE_IN_TEXT.match(unicodedata.normalize("NFKC", turn.text))
    return match.group(1) if match else None


has_code = Filter("invite_code", lambda turn: code_in(turn) is not None)
router = Router("binding")


@router.turn(private, has_code, name="binding")
async def on_invite_code(turn: Turn) -> None:
    inbound = turn.inbound
    code = code_in(turn)
    stranger = turn.candidate is None
    if stranger and await _locked_out(turn):
        await _answer(turn, "offer.bind_locked")
        return
    # Locked: two people typing one code at the same moment must not both bind.
    offer = await Offer.filter(invite_code=code).select_for_update().first()
    if offer is None or offer.status != "sent":
        # A known candidate typing six digits may mean something else: not ours then.
        if not stranger or inbound.kind == "event":
            raise SkipHandler
        await _count_failure(turn)
        await _answer(turn, "offer.bind_invalid")
        return
    bound_to = offer_data(offer).bound_to
    me = f"{inbound.platform}:{inbound.sender_id}"
    if bound_to == me:
        await _answer(turn, "offer.bind_already")
        return
    if bound_to is not None or offer.stage != "awaiting_binding":
        if stranger:
            await _count_failure(turn)
            await _answer(turn, "offer.bind_invalid")
            return
        raise SkipHandler
    await bind(turn, offer)


async def bind(turn: Turn, offer: Offer) -> None:
    """Tie the sender to the offer's candidate, then let the offer flow send the offer."""
    fx, inbound = turn.fx, turn.inbound
    candidate = await Candidate.get(id=offer.candidate_id)
    field = identity_for(inbound.platform, inbound.sender_id)
    if field is not None:
        setattr(candidate, field[0], field[1])
        await candidate.save(update_fields=[field[0], "updated_at"])
    ctx = conversation_context(turn.conversation)
    ctx.invite_failures = []
    await save_context(turn.conversation, ctx, candidate_id=candidate.id)
    set_offer_data(offer, bound_to=f"{inbound.platform}:{inbound.sender_id}")
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
    return [t for t in conversation_context(turn.conversation).invite_failures if t > since]


async def _locked_out(turn: Turn) -> bool:
    return len(_failures(turn)) >= MAX_FAILED_CODES


async def _count_failure(turn: Turn) -> None:
    ctx = conversation_context(turn.conversation)
    ctx.invite_failures = [*_failures(turn), turn.fx.now()]
    await save_context(turn.conversation, ctx)
