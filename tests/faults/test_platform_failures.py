"""Platform failures at the send APIs (SPEC §4 "Acknowledge fast, lose nothing" and
"Exactly one effect", issue 8 §4):

- busy / rate-limited / 5xx / timeouts → retried by the outbox with exponential backoff
  and jitter (times recorded at the stand-ins), delivered once, with the same platform
  de-dup key on every attempt (WeCom `enable_duplicate_check` on the identical JSON,
  Feishu `uuid`) — a timed-out send that did reach the platform is not shown twice;
- expired or unknown token → refreshed once and the call retried within the attempt;
- permanent refusals (recipient unknown / out of range, bot not in chat, open_id of
  another app) → recorded on the outbox row, an HR alert, never retried;
- the access token is shared by processes: two runtimes on one Redis fetch it once,
  also when it expires under both at the same time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.channels.base import Outgoing, Recipient
from bot.storage.models import Alert, Outbox
from bot.worker import sweep_once
from tests.helpers import drain
from tests.standins.feishu import FeishuStandin, feishu_config
from tests.standins.wecom import CallbackSigner, WecomEnv, WecomStandin
from tests.test_feishu_offer import make_offer as make_feishu_offer
from tests.test_wecom_conversation import make_offer as make_wecom_offer

# Backoff large enough to see its growth through arq's 50 ms polling:
# attempt n waits uniform(cap/2, cap) with cap = base · 2^(n-1).
SLOW_BACKOFF = {"backoff_base": "400ms", "backoff_max": "5s", "max_attempts": 5}
# [delivery] http_timeout; the slow stand-ins answer 3× later. A whole second, so that a
# loaded machine's stalls of the event loop (stand-in and bot share it) are not timeouts.
HTTP_TIMEOUT = 1.0


class _Stamped(list):
    """The stand-in's call log, noting when each call was recorded (= when it arrived)."""

    def __init__(self, arrived: dict[int, float]):
        super().__init__()
        self._arrived = arrived

    def append(self, call: Any) -> None:
        self._arrived[id(call)] = time.monotonic()
        super().append(call)


class TimedWecom(WecomStandin):
    """The WeCom stand-in plus: arrival times, per-recipient answers, slow answers."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrived: dict[int, float] = {}  # id(call) → time.monotonic()
        self.calls = _Stamped(self.arrived)
        self.busy: dict[str, deque[int]] = {}  # touser → errcodes for its next sends
        self.refuse: dict[str, int] = {}  # touser → errcode forever
        self.slow: deque[float] = deque()  # seconds to hold the next message/send answers

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        hold = self.slow.popleft() if endpoint == "message/send" and self.slow else 0.0
        response = await super()._dispatch(request)
        if hold:
            await asyncio.sleep(hold)  # accepted (and delivered) already; the answer is late
        return response

    def _message_send(self, call: Any) -> web.Response:
        user = (call.body or {}).get("touser", "") if isinstance(call.body, dict) else ""
        if user in self.refuse:
            return self._answer(call, self.refuse[user], "refused by the stand-in")
        codes = self.busy.get(user)
        if codes:
            code = codes.popleft()
            if code >= 400:
                call.answer = code
                return web.Response(status=code, text="stand-in failure")
            return self._answer(call, code, "system busy")
        return super()._message_send(call)

    def sends_to(self, user: str) -> list[Any]:
        return [
            c
            for c in self.calls_to("message/send")
            if isinstance(c.body, dict) and c.body.get("touser") == user
        ]

    def at(self, call: Any) -> float:
        return self.arrived[id(call)]


class SlowFeishu(FeishuStandin):
    """The Feishu stand-in plus slow answers to message create (accepted first)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.slow: deque[float] = deque()

    async def _create(self, request: web.Request) -> web.Response:
        hold = self.slow.popleft() if self.slow else 0.0
        response = await super()._create(request)
        if hold:
            await asyncio.sleep(hold)
        return response


@pytest.fixture
async def wecom(settings_factory, make_runtime):
    standin = TimedWecom()
    await standin.start()
    settings = settings_factory(
        wecom=standin.settings(),
        delivery={**SLOW_BACKOFF, "http_timeout": f"{int(HTTP_TIMEOUT * 1000)}ms"},
    )
    rt = await make_runtime(settings)
    try:
        yield standin, rt
    finally:
        await standin.close()


@pytest.fixture
async def feishu(settings_factory, make_runtime):
    async with SlowFeishu() as standin:
        settings = settings_factory(
            feishu=feishu_config(standin),
            delivery={**SLOW_BACKOFF, "http_timeout": f"{int(HTTP_TIMEOUT * 1000)}ms"},
        )
        yield standin, await make_runtime(settings)


async def queue(rt, platform: str, address: str, text: str, key: str) -> int:
    fx = rt.fx()
    row = await fx.to_user(platform, address, Outgoing(text=text), key)
    await fx.flush()
    return row.id


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def assert_backoff_grows(waits: list[float], timed_out: int | None = None) -> None:
    """Retry n waits at least cap_n / 2 = base · 2^(n-1) / 2 (the jitter's lower end).
    Lower bounds only: a busy machine makes waits longer, never shorter, so this cannot
    flake — and a flat (non-exponential) backoff fails it. `timed_out`: the attempt whose
    answer never came, so its wait also holds the http_timeout."""
    base = 0.4  # SLOW_BACKOFF["backoff_base"]
    floors = [base * 2**n / 2 for n in range(len(waits))]
    if timed_out is not None:
        floors[timed_out] += HTTP_TIMEOUT
    assert all(w >= f * 0.98 for w, f in zip(waits, floors, strict=True)), (waits, floors)


# -- transient failures: backoff, jitter, one delivery ---------------------------------------


async def test_wecom_busy_5xx_and_timeout_are_retried_with_growing_backoff_once(wecom):
    standin, rt = wecom
    standin.busy["zhangsan"] = deque([-1, 502])  # busy, then a bad gateway
    standin.slow.extend([0.0, 0.0, HTTP_TIMEOUT * 3])  # third send: delivered, answer lost
    pk = await queue(rt, "wecom", "zhangsan", "您的入职时间已确认", "k-transient")
    await drain(rt)

    row = await Outbox.get(id=pk)
    assert (row.status, row.attempts) == ("sent", 4)
    calls = standin.sends_to("zhangsan")
    assert [c.answer for c in calls] == [-1, 502, 0, 0]
    # The same JSON with enable_duplicate_check every time: WeCom shows it once even
    # though the timed-out attempt did reach it.
    assert all(c.body == calls[0].body for c in calls)
    assert calls[0].body["enable_duplicate_check"] == 1
    assert [c.duplicate for c in calls] == [False, False, False, True]
    assert len(standin.delivered("message/send")) == 1
    assert_backoff_grows(gaps([standin.at(c) for c in calls]), timed_out=2)


async def test_wecom_retries_are_jittered_across_messages(wecom):
    standin, rt = wecom
    users = [f"user{i}" for i in range(8)]
    # Token first, so the 8 first attempts leave together (no one waits on the token lock).
    await rt.channels["wecom"].send(Recipient("user", "warmup"), Outgoing(text="t"), "warm")
    for user in users:
        standin.busy[user] = deque([-1, 45009, -1])  # three refusals each, then through
    for i, user in enumerate(users):
        await queue(rt, "wecom", user, f"消息 {i}", f"k-jitter-{i}")
    await drain(rt)

    per_user = {u: [standin.at(c) for c in standin.sends_to(u)] for u in users}
    assert all(len(t) == 4 for t in per_user.values())
    assert len(standin.delivered("message/send")) == len(users) + 1
    # Exponential: for every message the waits have their growing floors, and the last
    # is longer than the first.
    for user, times in per_user.items():
        assert_backoff_grows(gaps(times))
        first, _, last = gaps(times)
        assert last > first, (user, gaps(times))
    # Jitter: the same schedule would retry all 8 together; the last waits (cap 1.6 s,
    # drawn from [0.8, 1.6]) spread out. Without jitter they differ by polling noise only.
    last_waits = [gaps(t)[-1] for t in per_user.values()]
    assert max(last_waits) - min(last_waits) > 0.1, last_waits
    assert {r.status for r in await Outbox.filter(platform="wecom")} == {"sent"}


async def test_feishu_rate_limit_5xx_and_timeout_retry_with_the_same_uuid(feishu):
    standin, rt = feishu
    standin.fail("create", status=429, code=99991400, msg="request trigger frequency limit")
    standin.fail("create", status=503, code=1, msg="service unavailable")
    # Third attempt: accepted by Feishu, answered too late; the fourth is a retry.
    standin.slow.extend([0.0, 0.0, HTTP_TIMEOUT * 3])
    pk = await queue(rt, "feishu", "ou_cand", "请确认入职时间", "k-feishu-transient")
    await drain(rt)

    row = await Outbox.get(id=pk)
    assert (row.status, row.attempts) == ("sent", 4)
    creates = standin.calls_to("create")
    assert [c.answer_code for c in creates] == [99991400, 1, 0, 0]
    assert len({c.body["uuid"] for c in creates}) == 1  # Feishu's de-dup key, every time
    assert len(standin.messages) == 1  # the late answer's message is not shown twice
    assert row.platform_message_id == standin.messages[0]["message_id"]
    assert_backoff_grows(gaps([c.at for c in creates]), timed_out=2)


# -- expired tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["expired-42001", "unknown-40014"])
async def test_wecom_expired_token_is_refreshed_once_and_retried(wecom, how):
    standin, rt = wecom
    await queue(rt, "wecom", "zhangsan", "第一条", "k-tok-1")
    await drain(rt)
    assert standin.tokens_issued == 1
    if how == "expired-42001":
        standin.expire_tokens()
    else:
        standin.fail("message/send", 40014)
    pk = await queue(rt, "wecom", "zhangsan", "第二条", "k-tok-2")
    await drain(rt)

    assert standin.tokens_issued == 2  # refreshed exactly once
    assert [c.answer for c in standin.calls_to("message/send")] == [
        0,
        42001 if how == "expired-42001" else 40014,
        0,
    ]
    row = await Outbox.get(id=pk)
    assert (row.status, row.attempts) == ("sent", 1)  # within the same attempt
    texts = [m["text"]["content"] for m in standin.delivered("message/send")]
    assert texts == ["第一条", "第二条"]


@pytest.mark.parametrize("code", [99991663, 99991668])
async def test_feishu_expired_token_is_refreshed_once_and_retried(feishu, code):
    standin, rt = feishu
    await queue(rt, "feishu", "ou_c", "第一条", "k-ftok-1")
    await drain(rt)
    assert len(standin.calls_to("token")) == 1
    standin.fail("create", status=400, code=code, msg="Invalid access token for authorization.")
    pk = await queue(rt, "feishu", "ou_c", "第二条", "k-ftok-2")
    await drain(rt)

    assert len(standin.calls_to("token")) == 2
    assert [c.answer_code for c in standin.calls_to("create")] == [0, code, 0]
    row = await Outbox.get(id=pk)
    assert (row.status, row.attempts) == ("sent", 1)
    assert [m["content"]["text"] for m in standin.messages] == ["第一条", "第二条"]


# -- permanent refusals ----------------------------------------------------------------------


async def assert_not_retried(rt, count_calls) -> None:
    """The sweeper finds nothing to do for a failed row, and nothing is sent again."""
    before = count_calls()
    found = await sweep_once(rt)
    assert found["outbox"] == 0
    await drain(rt)
    assert count_calls() == before


@pytest.mark.parametrize("code", [81013, 60111])
async def test_wecom_unknown_recipient_is_recorded_alerted_and_not_retried(
    settings_factory, make_runtime, code
):
    standin = TimedWecom()
    await standin.start()
    try:
        standin.refuse["ghost"] = code
        rt = await make_runtime(settings_factory(wecom=standin.settings()))
        async with TestClient(TestServer(build_app(rt))) as client:
            env = WecomEnv(standin, rt, client, CallbackSigner())
            answer = await make_wecom_offer(env, wecom_user_id="ghost")

        rows = await Outbox.filter(offer_id=answer["id"], recipient_id="ghost")
        assert rows
        for row in rows:
            assert row.status == "failed"
            assert row.last_error.startswith(str(code))
            assert row.attempts == 1
        assert len(standin.sends_to("ghost")) == len(rows)  # one try per message
        assert await Alert.filter(offer_id=answer["id"], kind="undeliverable").exists()
        robot = "\n".join(p["markdown"]["content"] for p in standin.delivered("webhook/send"))
        first_line = rows[0].payload["text"].splitlines()[0]
        assert first_line in robot  # HR has the text to pass on by hand
        await assert_not_retried(rt, lambda: len(standin.sends_to("ghost")))
    finally:
        await standin.close()


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (230013, "Bot has NO availability to this user."),
        (99992361, "open_id cross app"),
    ],
)
async def test_feishu_unreachable_recipient_is_recorded_alerted_and_not_retried(
    settings_factory, make_runtime, code, msg
):
    # The default http_timeout, not the fixture's short one: on a loaded machine a first
    # attempt that merely timed out would be retried, and this test is about refusals.
    async with SlowFeishu() as standin:
        rt = await make_runtime(settings_factory(feishu=feishu_config(standin)))
        standin.unreachable["ou_outside"] = (code, msg)
        async with TestClient(TestServer(build_app(rt))) as client:
            offer = await make_feishu_offer(client, feishu_open_id="ou_outside")
        await drain(rt)

        rows = await Outbox.filter(offer_id=offer["id"], recipient_id="ou_outside")
        assert rows
        for row in rows:
            assert (row.status, row.attempts) == ("failed", 1)
            assert row.last_error.startswith(f"{code}:")

        def tries() -> int:
            return sum(c.body.get("receive_id") == "ou_outside" for c in standin.calls_to("create"))

        assert tries() == len(rows)
        assert await Alert.filter(offer_id=offer["id"], kind="undeliverable").exists()
        to_hr = [m["content"] for m in standin.messages if m["receive_id"] == "oc_hr"]
        hr = json.dumps(to_hr, ensure_ascii=False)
        assert rows[0].payload["text"].splitlines()[0] in hr
        await assert_not_retried(rt, tries)


# -- one token for all processes ------------------------------------------------------------


async def test_wecom_token_is_fetched_once_by_two_processes(wecom, make_runtime):
    standin, rt = wecom
    other = await make_runtime(rt.settings)  # a second process on the same Redis

    async def burst(tag: str) -> None:
        sends = [
            r.channels["wecom"].send(Recipient("user", f"u{i}"), Outgoing(text=tag), f"{tag}{i}")
            for i, r in enumerate([rt, other] * 4)
        ]
        await asyncio.gather(*sends)

    await burst("a")  # nobody has a token yet
    assert [c.endpoint for c in standin.calls].count("gettoken") == 1
    standin.expire_tokens()  # it expires under both processes at once
    await burst("b")
    assert [c.endpoint for c in standin.calls].count("gettoken") == 2
    assert len(standin.delivered("message/send")) == 16


async def test_feishu_token_is_fetched_once_by_two_processes(feishu, make_runtime):
    standin, rt = feishu
    other = await make_runtime(rt.settings)

    async def burst(tag: str) -> None:
        sends = [
            r.channels["feishu"].send(Recipient("user", f"ou_{i}"), Outgoing(text=tag), f"{tag}{i}")
            for i, r in enumerate([rt, other] * 4)
        ]
        await asyncio.gather(*sends)

    await burst("a")
    assert len(standin.calls_to("token")) == 1
    standin.revoke_tokens()
    await burst("b")
    assert len(standin.calls_to("token")) == 2
    assert len(standin.messages) == 16
