"""The /offer draft: what HR has told the bot so far, kept in the database.

One `KeyValue` row per HR person (`offer_draft:<platform:user>`) with `expires_at`, so a
draft survives restarts, any worker can continue it, one HR person has one draft at a
time and two HR people never share one. A draft continues only in the chat it started
in. Fields are asked in `ORDER`; the deadline and the expectations are optional (see
docs/hr-commands.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from bot.api_schemas import CandidateIn, RequisitionIn, validation_context
from bot.commands.offer_parse import OfferWords
from bot.services.fx import Fx
from bot.storage.models import KeyValue, Requisition
from bot.usecases.ats import chat_external_id
from bot.usecases.hr_chat import ChatOffer

DRAFT_TTL = timedelta(minutes=30)
MAX_TITLE = 200  # the requisition title column's length
# The row outlives the draft by a day (then the sweeper removes it), so that a late
# answer hears "the draft expired" rather than a puzzled reply.
KEEP_EXPIRED = timedelta(days=1)
REQUIRED = ("name", "contact", "job", "salary", "start_date")
ORDER = (*REQUIRED, "deadline", "expect")
DEADLINE_DEFAULT = "default"  # HR chose the configured `offer_expires_after`


def draft_key(actor: str) -> str:
    return f"offer_draft:{actor}"


@dataclass
class Draft:
    actor: str
    where: str  # the chat it started in: "<platform>:<reply address>"
    no: int = 1  # bumped on every change: a prepared confirmation must match it
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    identity: list[str] | None = None  # [platform, id]
    job: str | None = None  # as HR typed it
    job_id: int | None = None  # the requisition it names (None: a new one)
    salary: str | None = None
    start_date: str | None = None
    deadline: str | None = None  # ISO date, or DEADLINE_DEFAULT
    expect: dict[str, Any] | None = None  # {} = none given
    asked: str | None = None  # the field the last question was about
    guided: bool = False  # the bot asks the optional fields too
    until: str = ""  # ISO moment the draft expires (DRAFT_TTL after its last change)
    extra: dict[str, Any] = field(default_factory=dict)

    # -- what is missing ----------------------------------------------------------------

    def has(self, name: str) -> bool:
        if name == "contact":
            return bool(self.phone or self.email or self.identity)
        return getattr(self, name) is not None

    def missing(self) -> str | None:
        """The next field to ask about; None when the summary can be shown."""
        for name in REQUIRED:
            if not self.has(name):
                return name
        if self.guided:
            for name in ("deadline", "expect"):
                if not self.has(name):
                    return name
        return None

    def take(self, words: OfferWords) -> None:
        """Merge what one line said (a field given again replaces the old value); a name
        or title longer than any column goes to `words.bad` instead."""
        for name in ("name", "phone", "email", "job"):
            value = getattr(words, name)
            if value is not None and len(value) > MAX_TITLE:
                words.bad[name] = value
            elif value is not None:
                setattr(self, name, value)
                if name == "job":
                    self.job_id = None  # looked up again
                    self.extra.pop("job_new", None)
        if words.identity is not None:
            self.identity = list(words.identity)
        if words.salary is not None:
            self.salary = str(words.salary)
        if words.start_date is not None:
            self.start_date = words.start_date.isoformat()
        if words.deadline is not None:
            self.deadline = words.deadline.isoformat()
        self.no += 1

    # -- what it becomes ----------------------------------------------------------------

    def expires_at(self, fx: Fx) -> datetime | None:
        """The reply deadline: the end of the day HR named, in the company's time zone."""
        if self.deadline in (None, DEADLINE_DEFAULT):
            return None
        day = date.fromisoformat(self.deadline)
        return datetime.combine(day, time(23, 59), tzinfo=fx.settings.company.tz)

    def chat_offer(self, fx: Fx) -> ChatOffer:
        """The validated use-case input; ValidationError names what HR must fix."""
        person: dict[str, Any] = {"name": self.name}
        if self.phone:
            person["phone"] = self.phone
        if self.email:
            person["email"] = self.email
        web_id = None
        channel = None
        if self.identity:
            platform, ident = self.identity
            channel = platform
            if platform == "web":
                web_id = ident
            else:
                person["wecom_user_id" if platform == "wecom" else "feishu_open_id"] = ident
        if self.expect:
            person["expectations"] = self.expect
        context = validation_context(fx.settings)
        job: int | RequisitionIn = self.job_id or RequisitionIn.model_validate(
            {"external_id": chat_external_id(), "title": self.job}, context=context
        )
        terms: dict[str, Any] = {
            "salary_monthly": Decimal(str(self.salary)),
            "start_date": date.fromisoformat(str(self.start_date)),
        }
        if (deadline := self.expires_at(fx)) is not None:
            terms["expires_at"] = deadline
        if channel in ("wecom", "feishu"):
            terms["channel"] = channel
        return ChatOffer(CandidateIn.model_validate(person), job, terms, web_id=web_id)


def invalid_fields(exc: ValidationError) -> list[str]:
    """The draft fields a validation error is about (for re-asking them)."""
    found = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else ""
        name = {
            "phone": "contact",
            "email": "contact",
            "wecom_user_id": "contact",
            "feishu_open_id": "contact",
            "title": "job",
            "expectations": "expect",
        }.get(loc, loc)
        found.append(name if name in ORDER else "name")
    return list(dict.fromkeys(found))


# -- storage --------------------------------------------------------------------------------


async def load(actor: str, now: datetime, *, remove: bool = True) -> tuple[Draft | None, bool]:
    """(the actor's draft, whether it expired); an expired one is removed (unless only
    peeking, before the transaction)."""
    row = await KeyValue.get_or_none(key=draft_key(actor))
    if row is None:
        return None, False
    try:
        draft = Draft(**row.value)
    except TypeError:  # a row of another shape: start over
        if remove:
            await row.delete()
        return None, False
    if not draft.until or datetime.fromisoformat(draft.until) <= now:
        if remove:
            await row.delete()
        return draft, True
    return draft, False


async def save(fx: Fx, draft: Draft) -> None:
    until = fx.now() + DRAFT_TTL
    draft.until = until.isoformat()
    await KeyValue.update_or_create(
        key=draft_key(draft.actor),
        defaults={"value": asdict(draft), "expires_at": until + KEEP_EXPIRED},
    )


async def drop(actor: str) -> None:
    await KeyValue.filter(key=draft_key(actor)).delete()


# -- the job HR named -----------------------------------------------------------------------


async def find_jobs(text: str) -> list[Requisition]:
    """Requisitions `text` names: `#12` / `12`, the exact title, or else titles containing
    it (open ones first)."""
    t = text.strip().lstrip("#")
    if len(text) > MAX_TITLE:  # no title is that long (validation says so later)
        return []
    if t.isdigit():
        found = await Requisition.get_or_none(id=int(t[:9]))
        return [found] if found else []
    exact = [r for r in await Requisition.filter(title=text.strip()).order_by("id")]
    if not exact:
        exact = list(await Requisition.filter(title__icontains=text.strip()).order_by("id"))
    exact.sort(key=lambda r: (r.status != "open", r.id))
    return exact[:10]
