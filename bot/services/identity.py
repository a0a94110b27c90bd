"""Which address reaches a candidate: a known platform id, one a platform finds by phone or
e-mail, or else an invite (a six-digit code and, where a platform has one, a link) that
the binding flow (bot/flows/binding.py) turns into an address when it comes back."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

from bot.channels.addresses import identity_for
from bot.privacy import normalize_phone
from bot.services import candidate_links
from bot.services.fx import Fx, candidate_address
from bot.storage.models import Candidate, Offer

log = logging.getLogger(__name__)

PLAYGROUND_INVITE_PATH = "/playground?code={code}"


@dataclass(frozen=True)
class Lookup:
    """What the platforms answered, asked before the database transaction (no network
    call inside it: see docs/architecture.md)."""

    found: tuple[str, str] | None = None  # (platform, address) found by phone or e-mail
    invite: tuple[str, str | None] | None = None  # (code, link) drafted in case none is


async def look_up(fx: Fx, candidate: Candidate, preferred: str | None) -> Lookup:
    """Ask the platforms what `reach` and `new_invite` will need; writes nothing."""
    if candidate_address(candidate, preferred, fx.rt.platforms) is not None:
        return Lookup()
    found = await _find(fx, candidate, preferred)
    return Lookup(found=found) if found else Lookup(invite=await draft_invite(fx))


async def reach(
    fx: Fx, candidate: Candidate, preferred: str | None, lookup: Lookup | None = None
) -> tuple[str, str] | None:
    """(platform, address) for the candidate: a known id, else one a platform finds by phone
    or e-mail (stored on the candidate). None: the candidate must be invited. With a
    `lookup` made before the transaction, the platforms are not asked again."""
    known = candidate_address(candidate, preferred, fx.rt.platforms)
    if known is not None:
        return known
    found = lookup.found if lookup is not None else await _find(fx, candidate, preferred)
    field = identity_for(*found) if found else None
    if found is None or field is None:
        return None
    setattr(candidate, field[0], field[1])
    await candidate.save(update_fields=[field[0], "updated_at"])
    await fx.record(candidate.id, "identity_found", {"platform": found[0]})
    return found


async def _find(fx: Fx, candidate: Candidate, preferred: str | None) -> tuple[str, str] | None:
    """The first platform (the preferred one first) that knows the candidate's phone or
    e-mail, and the address it gave."""
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
        if found and identity_for(platform, found) is not None:
            return platform, found
    return None


# -- invites --------------------------------------------------------------------------------


async def draft_invite(fx: Fx) -> tuple[str, str | None]:
    """A six-digit code no offer has yet, and the first invite link a channel offers."""
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
    # only when no real platform is on and there is no candidate page to link to (then
    # new_invite links the candidate page). Otherwise no link, HR sends the code
    # (docs/privacy.md).
    # (SMS and e-mail are no chat: they do not count as a real platform here.)
    chat_channels = set(fx.rt.channels) - {"sms", "email"}
    if url is None and chat_channels == {"web"} and not fx.settings.server.public_url:
        url = PLAYGROUND_INVITE_PATH.format(code=code)
    return code, url


async def new_invite(fx: Fx, offer: Offer, lookup: Lookup | None = None) -> tuple[str, str | None]:
    """Store an invite on the offer: the one drafted before the transaction, unless another
    offer took its code meanwhile (then, rarely, a fresh one is drafted here). The link
    returned is the platform's, else the candidate page's when `server.public_url` is set."""
    drafted = lookup.invite if lookup is not None else None
    if drafted is None or await Offer.filter(invite_code=drafted[0]).exists():
        drafted = await draft_invite(fx)
    code, url = drafted
    offer.invite_code, offer.invite_url = code, url
    await offer.save(update_fields=["invite_code", "invite_url", "updated_at"])
    if url is None and fx.settings.server.public_url:
        # No platform link: the candidate page, which binds the candidate when opened.
        # Not stored on the offer: its token is kept only as a hash (docs/candidate-page.md).
        url = await candidate_links.link_for(fx.rt, offer.candidate_id)
    return code, url
