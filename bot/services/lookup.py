"""Find the candidate HR means: by bot id, external id, phone (any format), email or name.

Exact identifiers win over a partial name: `13800138000` finds the person with that phone
even if someone's name happens to contain digits. Every query goes through ORM filters
(bound parameters, LIKE wildcards escaped), never through SQL text. Erased candidates
are not found: after `/forget` there is nobody left to find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tortoise.expressions import Q

from bot.channels.addresses import IDENTITY_COLUMNS
from bot.privacy import normalize_phone
from bot.storage.models import Candidate

MAX_QUERY = 200
SHORT_LIST = 8

_BOT_ID = re.compile(r"^#?(\d{1,9})$")
_PHONE_LIKE = re.compile(r"^[\d\s\-().+]{7,30}$")


@dataclass(frozen=True)
class Lookup:
    """The first few matches (ordered by id) and how many there are in all."""

    matches: list[Candidate]
    total: int

    @property
    def unique(self) -> Candidate | None:
        return self.matches[0] if self.total == 1 else None


def _fits(field: str, value: str) -> bool:
    """The ORM refuses filter values longer than the column: such a value matches nothing."""
    return len(value) <= Candidate._meta.fields_map[field].max_length


def _identifier_filter(query: str) -> Q:
    conditions = [Q(id__in=[])]  # matches nothing on its own
    if _fits("external_id", query):
        conditions.append(Q(external_id=query))
    bot_id = _BOT_ID.match(query)
    if bot_id:
        conditions.append(Q(id=int(bot_id.group(1))))
    if "@" in query and _fits("email", query):
        conditions.append(Q(email__iexact=query))
    if _PHONE_LIKE.match(query):
        phone = normalize_phone(query)
        if phone and len(phone) >= 7:
            conditions.append(Q(phone_norm=phone))
    return Q(*conditions, join_type=Q.OR)


async def _first(query_filter: Q, limit: int) -> Lookup:
    base = Candidate.filter(query_filter, erased_at__isnull=True)
    total = await base.count()
    matches = await base.order_by("id").limit(limit) if total else []
    return Lookup(list(matches), total)


async def find_candidates(query: str, limit: int = SHORT_LIST) -> Lookup:
    """Candidates matching `query`: exact identifiers first, else a partial name."""
    query = " ".join(query.split())[:MAX_QUERY]
    if not query:
        return Lookup([], 0)
    exact = await _first(_identifier_filter(query), limit)
    if exact.total:
        return exact
    return await _first(Q(name__icontains=query), limit)


# Fields that identify one person across candidate rows (the ATS may create a new record
# when someone applies again). E-mail is compared case-insensitively.
_IDENTITY_FIELDS = ("external_id", "phone_norm", *IDENTITY_COLUMNS)


async def same_person(candidate: Candidate) -> list[Candidate]:
    """This candidate and every other row that is the same person, this one first."""
    conditions = [Q(id=candidate.id)]
    for field in _IDENTITY_FIELDS:
        value = getattr(candidate, field)
        if field == "phone_norm":
            value = value or normalize_phone(candidate.phone)
        if value:
            conditions.append(Q(**{field: value}))
    if candidate.email:
        conditions.append(Q(email__iexact=candidate.email))
    rows = await Candidate.filter(Q(*conditions, join_type=Q.OR), erased_at__isnull=True)
    return sorted(rows, key=lambda c: (c.id != candidate.id, c.id))
