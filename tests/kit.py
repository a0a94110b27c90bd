"""The dispatch-level test kit: an `Inbound` through the real processing in a few lines.

    async with kit(settings) as k:               # or the `k` fixture (tests/conftest.py)
        offer = await k.offer("sent/hesitating")  # hired through the ATS API, then talked there
        await k.says("我接受")                      # the durable path, then the worker until idle
        assert k.to_candidate[-1].says("offer.accepted")
        assert (await k.offer_row()).status == "accepted"

Everything runs as in production: the message is stored by `store_inbound`, the worker's
jobs route it through the route table (bot/flows/routes.py) on the real database, and the
outbox is delivered through the runtime's channels. The `web` channel is a
`RecordingChannel`: the real web channel (the playground and the candidate page keep
working) that also keeps each `Outgoing` it sends, in outbox order. `k.routes` names the
handler that took each turn (read from the router's own debug log). See
docs/development.md (Writing a test).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import HR_GROUP, Inbound, Needs, Outgoing, Recipient, SendResult
from bot.channels.web import playground_enabled
from bot.channels.web.channel import WebChannel
from bot.compose import channel_needs, start_runtime
from bot.config import Settings
from bot.i18n import Catalog
from bot.runtime import Runtime
from bot.services.ingest import store_inbound
from bot.storage.models import Alert, Candidate, Offer, Outbox, TimelineEvent, Timer
from tests.helpers import auth, drain, reset_backends
from tests.offer_steps import CANDIDATE, hire

# -- what was sent ------------------------------------------------------------------------


@cache
def _pattern(catalog_key: str, language: str) -> re.Pattern[str]:
    """A catalog sentence as a pattern: its words as written, each `{placeholder}` any text."""
    catalog = Catalog(language)
    template = "\n".join(catalog.list(catalog_key))
    parts = re.split(r"\{[^{}]*\}", template)
    return re.compile(".*?".join(re.escape(part) for part in parts), re.S)


@dataclass(frozen=True)
class Sent:
    """One message a channel sent: to whom, what, under which outbox key."""

    to: str
    message: Outgoing
    key: str  # the outbox idempotency key: "offer:3:message", "offer:3:accepted:<origin>" …

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def actions(self) -> list[str]:
        return [a.key for a in self.message.actions]

    @property
    def commands(self) -> list[str]:
        return [a.command for a in self.message.actions]

    def says(self, catalog_key: str, language: str = "zh") -> bool:
        """The text holds the catalog's sentence `catalog_key` (placeholders: any text)."""
        return _pattern(catalog_key, language).search(self.text) is not None


class RecordingChannel(WebChannel):
    """The `web` channel, keeping what it sends (`sent`, in the order sends happen; the kit
    puts them in outbox order after each run of the worker)."""

    def __init__(self, needs: Needs, *, hr: bool) -> None:
        super().__init__(needs, hr=hr)
        self.sent: list[Sent] = []

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        result = await super().send(to, message, idempotency_key)
        self.sent.append(Sent(to.address, message, idempotency_key))
        return result


def record(rt: Runtime) -> RecordingChannel:
    """Register a RecordingChannel as the runtime's `web` channel (before any send)."""
    channel = RecordingChannel(channel_needs(rt), hr=playground_enabled(rt.settings))
    rt.channels["web"] = channel
    return channel


class _Routes(logging.Handler):
    """The router's "turn <event id> taken by <handler>" lines (bot/flows/router.py)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.taken: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "turn %s taken by %s" and isinstance(record.args, tuple):
            event_id, handler = record.args
            self.taken[str(event_id)] = str(handler)


# -- getting an offer into a state ---------------------------------------------------------

# How a candidate gets each offer state, the way candidates and HR do (from a delivered
# offer). Steps: ("says", text) / ("clicks", action) / ("withdraw",) / ("expire",).
PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sent/awaiting_reply": (),
    "sent/hesitating": (("says", "我再考虑一下，薪资能否再谈"),),
    "accepted/confirmed": (("clicks", "accept"),),
    "declined/awaiting_decline_reason": (("clicks", "decline"),),
    "declined/closed": (("clicks", "decline"), ("clicks", "reason:salary")),
    "reneged/awaiting_renege_reason": (
        ("clicks", "accept"),
        ("says", "非常抱歉，家里临时有变故，我去不了了"),
    ),
    "reneged/closed": (
        ("clicks", "accept"),
        ("says", "非常抱歉，家里临时有变故，我去不了了"),
        ("clicks", "reason:family"),
    ),
    "withdrawn/closed": (("withdraw",),),
    "expired/closed": (("expire",),),
}


class Kit:
    def __init__(self, rt: Runtime, channel: RecordingChannel, routes: _Routes) -> None:
        self.rt = rt
        self.channel = channel
        self._routes = routes
        self._api: TestClient | None = None
        self.offers: list[Offer] = []  # made by `offer`, oldest first
        self._users: dict[int, str] = {}  # offer id -> the candidate's web address
        self.last_event = ""

    # -- the ATS side ------------------------------------------------------------------

    async def api(self) -> TestClient:
        """The HTTP app on this runtime (started on first use, closed with the kit)."""
        if self._api is None:
            self._api = TestClient(TestServer(build_app(self.rt)))
            await self._api.start_server()
        return self._api

    async def offer(self, state: str = "sent/awaiting_reply", **fields: Any) -> Offer:
        """An offer through the ATS API (`tests.offer_steps.hire`'s arguments), delivered
        on `web`, then brought to `state` ("status/stage", one of `PATHS`) by the
        candidate's own replies (or the company's withdrawal, the deadline passing)."""
        steps = PATHS[state]
        answer = await hire(await self.api(), **fields)
        user = fields.get("web_id", CANDIDATE)
        self._users[answer["id"]] = user
        await self.drain()
        offer = await Offer.get(id=answer["id"])
        self.offers.append(offer)
        for step, *args in steps:
            if step == "says":
                await self.says(args[0], offer)
            elif step == "clicks":
                await self.clicks(args[0], offer)
            elif step == "withdraw":
                await self.withdraw(offer)
            else:
                await self.expire(offer)
        offer = await self.offer_row(offer)
        assert f"{offer.status}/{offer.stage}" == state, (state, offer.status, offer.stage)
        self.offers[-1] = offer
        return offer

    async def withdraw(self, offer: Offer | None = None) -> dict:
        """The company withdraws the offer (POST /offers/{id}/withdraw); the API's answer."""
        offer = offer or self.offers[-1]
        client = await self.api()
        resp = await client.post(f"/api/v1/offers/{offer.id}/withdraw", headers=auth())
        assert resp.status == 200, await resp.text()
        await self.drain()
        return await resp.json()

    async def expire(self, offer: Offer | None = None) -> None:
        """The answer deadline passes: the expiry timer comes due and the worker runs."""
        await self.due(offer or self.offers[-1], "offer_expire")

    async def due(self, offer: Offer, kind: str) -> None:
        """The offer's pending `kind` timer comes due now; the worker runs."""
        updated = await Timer.filter(offer_id=offer.id, kind=kind, status="pending").update(
            due_at=self.rt.clock() - timedelta(seconds=1)
        )
        assert updated, f"no pending {kind} timer"
        await self.drain()

    # -- the candidate's (or anyone's) side ---------------------------------------------

    def user(self, who: Offer | str | None = None) -> str:
        """A web address: given, the candidate of an offer, else the last offer's one."""
        if isinstance(who, str):
            return who
        offer = who or (self.offers[-1] if self.offers else None)
        return self._users.get(offer.id, CANDIDATE) if offer else CANDIDATE

    async def feed(self, inbound: Inbound) -> str | None:
        """Any Inbound through the durable path and the worker; the handler that took it."""
        await store_inbound(self.rt, inbound)
        await self.drain()
        self.last_event = inbound.event_id
        return self._routes.taken.get(inbound.event_id)

    async def says(self, text: str, who: Offer | str | None = None) -> str | None:
        return await self.feed(
            Inbound(platform="web", event_id=uuid.uuid4().hex, sender_id=self.user(who), text=text)
        )

    async def clicks(self, action: str, who: Offer | str | None = None, **value: Any) -> str | None:
        """A button click; `offer_id` is the offer's (`who`'s, else the last one's)."""
        if "offer_id" not in value:
            offer = who if isinstance(who, Offer) else (self.offers[-1] if self.offers else None)
            if offer is not None:
                value["offer_id"] = offer.id
        inbound = Inbound(
            platform="web",
            event_id=uuid.uuid4().hex,
            sender_id=self.user(who),
            kind="action",
            action={"action": action, **value},
        )
        return await self.feed(inbound)

    @property
    def route(self) -> str | None:
        """The handler that took the last turn fed."""
        return self._routes.taken.get(self.last_event)

    # -- what happened -------------------------------------------------------------------

    async def drain(self) -> None:
        """The worker until idle, then what was sent in outbox order."""
        await drain(self.rt)
        keys = [s.key for s in self.channel.sent]
        order = dict(
            await Outbox.filter(platform="web", idempotency_key__in=keys).values_list(
                "idempotency_key", "id"
            )
        )
        self.channel.sent.sort(key=lambda s: order.get(s.key, 0))

    @property
    def sent(self) -> list[Sent]:
        """Everything sent on `web`, card replacements (bot/flows/cards.py) included."""
        return list(self.channel.sent)

    def to(self, who: Offer | str | None = None, *, cards: bool = False) -> list[Sent]:
        """What one address was sent, oldest first; with `cards`, only the replacements of
        earlier cards, which are left out otherwise (like tests.helpers.sent_messages)."""
        address = self.user(who)
        return [
            s for s in self.channel.sent if s.to == address and bool(s.message.replaces) == cards
        ]

    @property
    def to_candidate(self) -> list[Sent]:
        return self.to()

    @property
    def to_hr(self) -> list[Sent]:
        return self.to(HR_GROUP)

    def texts(self, who: Offer | str | None = None) -> list[str]:
        return [s.text for s in self.to(who)]

    @property
    def hr_texts(self) -> list[str]:
        return self.texts(HR_GROUP)

    async def offer_row(self, offer: Offer | None = None) -> Offer:
        """The offer as the database has it now (default: the last one made)."""
        return await Offer.get(id=(offer or self.offers[-1]).id)

    async def candidate(self, offer: Offer | None = None) -> Candidate:
        return await Candidate.get(id=(offer or self.offers[-1]).candidate_id)

    async def state(self, offer: Offer | None = None) -> str:
        row = await self.offer_row(offer)
        return f"{row.status}/{row.stage}"

    async def timers(self, offer: Offer | None = None) -> dict[str, Timer]:
        rows = await Timer.filter(offer_id=(offer or self.offers[-1]).id, status="pending")
        return {t.kind: t for t in rows}

    async def alerts(self, offer: Offer | None = None, **filters: Any) -> list[Alert]:
        offer = offer or self.offers[-1]
        return await Alert.filter(offer_id=offer.id, **filters).order_by("id")

    async def timeline(self, offer: Offer | None = None) -> list[TimelineEvent]:
        return await TimelineEvent.filter(offer_id=(offer or self.offers[-1]).id).order_by("id")

    async def kinds(self, offer: Offer | None = None) -> list[str]:
        return [e.kind for e in await self.timeline(offer)]

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()


@asynccontextmanager
async def kit(settings: Settings) -> AsyncIterator[Kit]:
    """A runtime on `settings` (the test's database, flushed Redis) with a recording `web`
    channel, and the kit driving it; everything closed at the end."""
    rt = await start_runtime(settings, migrate=False)
    routes = _Routes()
    router_log = logging.getLogger("bot.flows.router")
    level = router_log.level
    router_log.addHandler(routes)
    router_log.setLevel(logging.DEBUG)
    k = Kit(rt, record(rt), routes)
    try:
        await reset_backends(rt)
        yield k
    finally:
        router_log.removeHandler(routes)
        router_log.setLevel(level)
        await k.close()
        await rt.close()
