"""The command framework: what a command is, argument parsers and the context a
command runs in.

    @command("note", parse=candidate_and_text)
    async def note(ctx: Ctx, args: tuple[str, str]) -> None: ...

`command` only describes: the table of commands HR can run is listed in one place,
`COMMANDS` in bot/commands/dispatch.py (no registration by importing a module).

A command's help line is the catalog key `commands.usage.<name>`. A parser turns the text
after the command name into the value the command receives, or raises `UsageError`;
arguments only ever reach the database as ORM filter values.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.channels.base import Outgoing, account
from bot.flows.router import Turn
from bot.history_text import Style, candidate_title, clip
from bot.services.fx import Fx
from bot.services.lookup import find_candidates
from bot.storage.models import Application, Candidate

MAX_ARGS = 2000
DEFAULT_DAYS = 30
MAX_DAYS = 3650


class UsageError(Exception):
    """The arguments do not fit the command: answer with its usage line."""


Parser = Callable[[str], Any]
Runner = Callable[["Ctx", Any], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    run: Runner
    parse: Parser


def command(name: str, parse: Parser | None = None) -> Callable[[Runner], Command]:
    """Turn the function into the command `name` (its arguments read by `parse`)."""

    def describe(fn: Runner) -> Command:
        return Command(name, fn, parse or no_args)

    return describe


def table(*commands: Command) -> dict[str, Command]:
    """name → command; two commands of one name are a mistake, not an override."""
    found: dict[str, Command] = {}
    for cmd in commands:
        if cmd.name in found:
            raise ValueError(f"two commands named {cmd.name}")
        found[cmd.name] = cmd
    return found


def closest(name: str, names: Iterable[str]) -> str | None:
    """The command a typo most likely meant."""
    found = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return found[0] if found else None


# -- argument parsers ---------------------------------------------------------------------

_ALERT_ID = re.compile(r"^#?(\d{1,9})$")
_DAYS = re.compile(r"^(\d{1,5})\s*(?:d|days?|天)?$", re.IGNORECASE)
CONFIRM_WORDS = ("confirm", "确认")


def no_args(args: str) -> None:
    return None


def required_text(args: str) -> str:
    if not args:
        raise UsageError
    return args[:MAX_ARGS]


def optional_days(args: str) -> int:
    if not args:
        return DEFAULT_DAYS
    m = _DAYS.match(args)
    if not m or not 1 <= int(m.group(1)) <= MAX_DAYS:
        raise UsageError
    return int(m.group(1))


def alert_id(args: str) -> int:
    m = _ALERT_ID.match(args)
    if not m:
        raise UsageError
    return int(m.group(1))


def _first_word(args: str) -> tuple[str, str]:
    parts = args.split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else (args.strip(), "")


def alert_id_and_note(args: str) -> tuple[int, str]:
    first, rest = _first_word(args)
    return alert_id(first), rest[:MAX_ARGS]


def candidate_and_text(args: str) -> tuple[str, str]:
    """`<candidate> <text>`: the candidate is one word (a name, phone, e-mail or #id)."""
    who, text = _first_word(args)
    if not who or not text:
        raise UsageError
    return who, text[:MAX_ARGS]


def candidate_maybe_confirmed(args: str) -> tuple[str, bool]:
    """`<candidate>` or `<candidate id> confirm`."""
    parts = args.rsplit(None, 1)
    if len(parts) == 2 and parts[1].lower() in CONFIRM_WORDS:
        return parts[0].strip(), True
    return required_text(args), False


# -- what a command runs with -------------------------------------------------------------


@dataclass
class Ctx:
    turn: Turn
    name: str
    # Every command HR can run (for /help and typo suggestions).
    commands: Mapping[str, Command] = field(default_factory=dict)

    @property
    def fx(self) -> Fx:
        return self.turn.fx

    @property
    def actor(self) -> str:
        """Who is acting, as `[hr].admins` names them: `platform:user id`."""
        return account(self.turn.inbound.platform, self.turn.inbound.sender_id)

    @property
    def private(self) -> bool:
        return self.turn.inbound.chat_type == "p2p"

    @property
    def style(self) -> Style:
        settings = self.fx.settings
        return Style(self.fx.catalog, settings.company.tz, private=self.private)

    def t(self, key: str, /, **values: Any) -> str:
        return self.fx.t(key, **values)

    async def answer(self, text: str, *, suffix: str = "", **fields: Any) -> None:
        """The one reply to this command (idempotent if the inbound is processed again)."""
        await self.turn.reply(Outgoing(text=text, **fields), f"cmd:{self.name}{suffix}")

    async def usage(self) -> None:
        await self.answer(
            self.t("commands.usage_error", usage=self.t(f"commands.usage.{self.name}")),
            suffix=":usage",
        )

    async def candidate(self, query: str) -> Candidate | None:
        """The one candidate `query` names; otherwise answers (no match / a short list)."""
        found = await find_candidates(query)
        if found.unique:
            return found.unique
        if not found.total:
            await self.answer(self.t("commands.no_match", query=clip(query, 40)), suffix=":none")
            return None
        latest = await _latest_requisitions([c.id for c in found.matches])
        lines = [self.t("commands.many_matches", count=found.total)]
        for n, c in enumerate(found.matches, 1):
            title = latest.get(c.id)
            who = candidate_title(self.style, c) + (f" · {clip(title, 30)}" if title else "")
            lines.append(f"{n}. {who}")
        if found.total > len(found.matches):
            lines.append(self.t("commands.more_matches", more=found.total - len(found.matches)))
        lines.append(self.t("commands.pick_by_id", command=self.name, id=found.matches[0].id))
        await self.answer("\n".join(lines), suffix=":many")
        return None


async def _latest_requisitions(candidate_ids: list[int]) -> dict[int, str]:
    """candidate id → title of the job they applied for most recently (tells namesakes apart)."""
    apps = (
        await Application.filter(candidate_id__in=candidate_ids)
        .order_by("applied_at", "id")
        .prefetch_related("requisition")
    )
    return {a.candidate_id: a.requisition.title for a in apps}
