"""The candidate page's links: `{server.public_url}/c/{token}` (docs/candidate-page.md).

A token is 256 random bits (`secrets.token_urlsafe(32)`), bound to one candidate. The
database keeps only its SHA-256: a leaked backup or a read-only SQL injection opens no
page. The price is that a token cannot be shown twice, so `link_for` mints a fresh one on
every call (every SMS or e-mail carries its own link) instead of re-using one; all of a
candidate's tokens share one lifetime, and the newest MAX_LIVE stay valid (older ones
are revoked, which bounds the rows without cutting a link sent recently).

Lifetime: valid while any of the candidate's offers is open (not closed) and for
VALID_AFTER_CLOSE after the last one closed; never for an erased candidate or a revoked
token. No offer at all: not valid.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.storage.models import Candidate, CandidateToken, Offer

if TYPE_CHECKING:
    from bot.runtime import Runtime

PATH = "/c/{token}"
VALID_AFTER_CLOSE = timedelta(days=30)
MAX_LIVE = 20  # live tokens per candidate; older ones are revoked
TOKEN_BYTES = 32  # 256 bits; the spec asks for at least 128
# What token_urlsafe(32) produces (43 characters); anything else is refused unhashed.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
CLOSED = ("declined", "expired", "withdrawn", "reneged", "onboarded")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def page_url(public_url: str, token: str) -> str:
    """The link (relative when no public_url is configured: fine for a local page, not
    for an SMS; reach checks `server.public_url` before sending one)."""
    return public_url.rstrip("/") + PATH.format(token=token)


async def mint(candidate_id: int, now: datetime | None = None) -> str:
    """A new token for the candidate (stored hashed); revokes all but the newest MAX_LIVE."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await CandidateToken.create(candidate_id=candidate_id, token_hash=token_hash(token))
    live = (
        await CandidateToken.filter(candidate_id=candidate_id, revoked_at__isnull=True)
        .order_by("-id")
        .offset(MAX_LIVE)
        .values_list("id", flat=True)
    )
    if live:
        await CandidateToken.filter(id__in=list(live)).update(revoked_at=now or datetime.now(UTC))
    return token


async def link_for(rt: Runtime, candidate_id: int) -> str:
    """The candidate's page URL with a freshly minted token (see the module docstring for
    why a token is never re-used). Raises LookupError for an unknown or erased candidate."""
    if not await Candidate.filter(id=candidate_id, erased_at__isnull=True).exists():
        raise LookupError(f"no candidate {candidate_id}")
    token = await mint(candidate_id, rt.clock())
    return page_url(rt.settings.server.public_url, token)


async def valid_until(candidate_id: int) -> datetime | None:
    """Until when the candidate's tokens work: None = not at all; datetime.max = while an
    offer is open (no end yet)."""
    offers = await Offer.filter(candidate_id=candidate_id).values(
        "status", "closed_at", "updated_at"
    )
    if not offers:
        return None
    if any(o["closed_at"] is None and o["status"] not in CLOSED for o in offers):
        return datetime.max.replace(tzinfo=UTC)
    last = max(o["closed_at"] or o["updated_at"] for o in offers)
    return last + VALID_AFTER_CLOSE


async def resolve(token: str, now: datetime | None = None) -> Candidate | None:
    """The candidate a token belongs to, or None: unknown, tampered, revoked, expired, or
    the candidate was erased. `now` defaults to the wall clock (pass the runtime's)."""
    if not isinstance(token, str) or not TOKEN_SHAPE.match(token):
        return None
    row = await CandidateToken.filter(token_hash=token_hash(token), revoked_at__isnull=True).first()
    if row is None:
        return None
    candidate = await Candidate.filter(id=row.candidate_id, erased_at__isnull=True).first()
    if candidate is None:
        return None
    until = await valid_until(candidate.id)
    if until is None or (now or datetime.now(UTC)) >= until:
        return None
    return candidate


async def revoke_all(candidate_id: int) -> None:
    """End every token of the candidate (erasure): the rows are deleted."""
    await CandidateToken.filter(candidate_id=candidate_id).delete()
