"""Candidate-reply understanding: the rules, the decline-reason classifier, the LLM provider."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.understanding.model import shipped_model
from bot.understanding.providers import LLMProvider, LocalProvider, RulesProvider, make_provider
from bot.understanding.rules import Classification, classify_reason, classify_rules
from bot.vocab import CONCERNS, INTENTS, REASON_CATEGORIES

DATA = Path(__file__).parent / "intent_sets"

# -- rules: intent ---------------------------------------------------------------------

INTENT_CASES = [
    # menu digits and short replies (full-width too)
    ("1", "accept"),
    ("１", "accept"),
    ("2", "decline"),
    ("２", "decline"),
    ("3", "question"),
    ("选3", "question"),
    ("接受", "accept"),
    ("好的", "accept"),
    ("嗯", "accept"),
    ("ok", "accept"),
    ("ＯＫ哒", "accept"),
    ("👍", "accept"),
    ("好滴，没问题呀", "accept"),
    ("没问题", "accept"),
    # negation and idioms
    ("我不是不想来，就是还没想好", "hesitate"),
    ("不考虑了", "decline"),
    ("我不想去了啦", "decline"),
    ("经过慎重考虑，我决定放弃这个机会", "decline"),
    ("经过慎重考虑，我决定接受贵司的offer", "accept"),
    ("很遗憾", "decline"),
    ("感谢贵司的认可，但我这边已经另有打算", "decline"),
    ("考虑了很久，还是决定不去了", "decline"),
    ("宝宝刚出生，我怕顾不过来", "hesitate"),
    # renege from someone who accepted
    ("我不来了", "decline"),
    ("去不了了，不好意思", "decline"),
    ("I won't be joining after all.", "decline"),
    ("Something came up, I can't make it anymore.", "decline"),
    # hesitation, negotiation, hedges
    ("我再考虑一下", "hesitate"),
    ("能不能晚几天答复？", "hesitate"),
    ("家里人不太同意", "hesitate"),
    ("还在等另一家的结果", "hesitate"),
    ("薪资能否再谈", "hesitate"),
    ("我接受，但是薪资能否再谈？", "hesitate"),
    ("可能去不了了", "hesitate"),
    ("如果能远程办公我就来", "hesitate"),
    ("another company offered me more", "hesitate"),
    ("I accepted, but I'm having second thoughts.", "hesitate"),
    ("Let me sleep on it 🤔", "hesitate"),
    # questions
    ("加班多吗", "question"),
    ("五险一金按什么基数交", "question"),
    ("is there a probation period?", "question"),
    ("好的，想问下几点下班呀", "question"),
    ("What time should I arrive on day one?", "question"),
    # explicit accept beats a question
    ("我接受，请问入职要带什么材料？", "accept"),
    # other
    ("在吗？", "other"),
    ("谢谢", "other"),
    ("I'm in a meeting, will reply later.", "other"),
    ("", "other"),
]


@pytest.mark.parametrize(("text", "intent"), INTENT_CASES)
def test_intent(text: str, intent: str) -> None:
    got = classify_rules(text)
    assert got.intent == intent, (text, got)
    assert got.source == "rules"


CONCERN_CASES = [
    ("薪资能否再谈", ("salary",)),
    ("加班多吗", ("overtime",)),
    ("公司离我家太远了，通勤两个小时", ("location",)),
    ("Would relocation be required, or is remote ok?", ("location",)),
    ("手上还有别的offer，想对比一下", ("competing_offer",)),
    ("岗位职责和发展空间我还想再了解", ("role_fit",)),
    ("团队氛围怎么样？领导好相处吗", ("team_culture",)),
    ("我需要和老婆还有父母商量", ("family",)),
    ("What is the notice period you expect, and the start date?", ("timing",)),
    ("背调和体检的流程是怎样的", ("process",)),
    ("base能不能再高一些", ("salary",)),
    # several concerns come back in CONCERNS order, each once
    ("加班多吗？加班费怎么算？薪资和工资是税前吗？", ("salary", "overtime")),
    ("My wife worries about the commute and the overtime.", ("overtime", "location", "family")),
    ("好的", ()),
    ("I accept, looking forward to joining the team!", ()),
]


@pytest.mark.parametrize(("text", "concerns"), CONCERN_CASES)
def test_concerns(text: str, concerns: tuple[str, ...]) -> None:
    assert classify_rules(text).concerns == concerns


def test_classification_is_a_frozen_value() -> None:
    c = classify_rules("加班多吗")
    assert c == Classification("question", ("overtime",), "rules")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.intent = "accept"  # type: ignore[misc]


def test_vocabulary() -> None:
    assert INTENTS == ("accept", "decline", "hesitate", "question", "other")
    assert (*CONCERNS, "info_mismatch", "other") == REASON_CATEGORIES
    assert len(REASON_CATEGORIES) == 11


def test_labelled_data_is_well_formed() -> None:
    for name in ("intents_labelled.jsonl", "intents_holdout.jsonl"):
        path = DATA / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert row["intent"] in INTENTS, row
            assert all(c in CONCERNS for c in row["concerns"]), row


# -- decline reasons -----------------------------------------------------------------------


@pytest.mark.parametrize(("n", "category"), list(enumerate(REASON_CATEGORIES, 1)))
def test_reason_menu_digits(n: int, category: str) -> None:
    assert classify_reason(str(n)) == category
    assert classify_reason(f" {n}. ") == category


REASON_CASES = [
    ("１０", "info_mismatch"),  # full-width digits
    ("4、拿到了别家的offer", "competing_offer"),
    ("和面试时说的不一样", "info_mismatch"),
    ("JD写的是后端结果是运维", "info_mismatch"),
    ("The job is not what was described in the interview", "info_mismatch"),
    ("钱太少了", "salary"),
    ("通勤太远，每天要三个小时", "location"),
    ("老婆不让我去", "family"),
    ("大小周受不了，薪资也一般", "overtime"),
    ("accepted another offer with better pay", "competing_offer"),
    ("the pay is too low, and the other offer pays more", "salary"),
    ("My current employer made a counter offer", "competing_offer"),
    ("个人原因吧", "other"),
    ("12", "other"),
    ("", "other"),
]


@pytest.mark.parametrize(("text", "category"), REASON_CASES)
def test_reason_free_text(text: str, category: str) -> None:
    assert classify_reason(text) == category


# -- providers -------------------------------------------------------------------------------


async def test_rules_provider_wraps_rules() -> None:
    assert await RulesProvider().classify("我再考虑一下") == classify_rules("我再考虑一下")


async def test_default_provider_is_the_local_model(tmp_path: Path) -> None:
    """ "rules" = the learned model plus the rules for what is certain; no LLM."""
    p = make_provider("rules", "", "", "", 5.0, data_dir=tmp_path)
    assert isinstance(p, LocalProvider) and p.llm is None
    got = await p.classify("好的，我接受这个offer")
    assert (got.intent, got.source, got.model) == ("accept", "model", shipped_model().name)
    assert p.model_name == shipped_model().name
    assert 0.0 < got.confidence <= 1.0
    for text, intent in (
        ("1", "accept"),
        ("２", "decline"),
        ("", "other"),
        ("接受 offer", "accept"),
    ):
        assert await p.classify(text) == Classification(intent, (), "rules"), text


def test_make_provider_rejects_unknown_and_incomplete() -> None:
    with pytest.raises(ValueError):
        make_provider("magic", "", "", "", 5.0)
    with pytest.raises(ValueError):
        make_provider("llm", "", "some-model", "", 5.0)
    p = make_provider("llm", "http://127.0.0.1:9", "m", "k", 1.0)
    assert isinstance(p, LocalProvider) and isinstance(p.llm, LLMProvider)


class FakeLLM:
    """An OpenAI-compatible /v1/chat/completions endpoint whose answer a test chooses."""

    def __init__(self) -> None:
        self.mode = "good"
        self.answer = {"intent": "hesitate", "concerns": ["salary", "not-a-concern"]}
        self.requests: list[dict] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"body": body, "auth": request.headers.get("Authorization")})
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "slow":
            try:
                await asyncio.wait_for(self.release.wait(), 5)
            except TimeoutError:
                pass
        if self.mode == "not-json":
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        content = json.dumps(self.answer)
        if self.mode == "garbage":
            content = "Sure! The candidate seems to accept, I think."
        if self.mode == "fenced":
            content = "```json\n" + content + "\n```"
        return web.json_response(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        )


@pytest.fixture
async def llm():
    fake = FakeLLM()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")
    provider = LLMProvider(fake.base_url, "test-model", "sk-test", timeout_s=0.2)
    fake.provider = provider
    yield fake
    fake.release.set()
    await provider.close()
    await server.close()


async def test_llm_good_answer_is_used(llm) -> None:
    got = await llm.provider.classify("你好")  # the rules would say "other"
    assert got == Classification("hesitate", ("salary",), "llm")
    sent = llm.requests[0]
    assert sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "test-model"
    assert sent["body"]["messages"][-1] == {"role": "user", "content": "你好"}


async def test_llm_accepts_v1_base_url_and_fenced_json(llm) -> None:
    llm.mode = "fenced"
    llm.answer = {"intent": "question", "concerns": ["overtime"]}
    provider = LLMProvider(llm.base_url + "/v1/", "test-model", "", timeout_s=0.2)
    try:
        got = await provider.classify("周末要上班不")
    finally:
        await provider.close()
    assert got == Classification("question", ("overtime",), "llm")
    assert llm.requests[0]["auth"] is None


@pytest.mark.parametrize("mode", ["500", "slow", "garbage", "not-json", "unknown-intent"])
async def test_llm_failures_fall_back_to_rules(llm, mode: str, caplog) -> None:
    llm.mode = mode
    if mode == "unknown-intent":
        llm.answer = {"intent": "maybe_later", "concerns": []}
    text = "13800001111 的候选人：薪资能否再谈"
    with caplog.at_level(logging.DEBUG, logger="bot.understanding.providers"):
        got = await llm.provider.classify(text)
    assert len(llm.requests) == 1
    assert got == classify_rules(text)
    assert got.source == "rules" and got.intent == "hesitate"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings, "a fallback must be logged"
    for record in caplog.records:
        assert "13800001111" not in record.getMessage()


async def test_llm_not_asked_for_menu_digits(llm) -> None:
    got = await llm.provider.classify("２")
    assert got == Classification("decline", (), "rules")
    assert llm.requests == []


async def test_llm_uses_a_given_session(llm) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        provider = LLMProvider(llm.base_url, "m", "k", 0.2, session=session)
        assert (await provider.classify("hello")).source == "llm"
        await provider.close()  # must not close a session it does not own
        assert not session.closed


def _served(tmp_path: Path, threshold: float) -> Path:
    """A data dir serving the shipped model with another decision threshold."""
    m = shipped_model().retuned(threshold=threshold)
    m.save(tmp_path / "models" / f"intents-0001-{m.name[8:]}.npz")
    return tmp_path


async def test_llm_asked_only_when_the_model_is_unsure(llm, tmp_path: Path) -> None:
    sure = LocalProvider(_served(tmp_path / "a", 0.0), llm.provider)
    got = await sure.classify("好的，我接受这个offer")
    assert (got.intent, got.sure, got.source) == ("accept", True, "model")
    assert await sure.classify("1") == Classification("accept", (), "rules")
    assert llm.requests == []

    unsure = LocalProvider(_served(tmp_path / "b", 1.01), llm.provider)
    local, _ = unsure.read("好的，我接受这个offer")
    assert (local.intent, local.sure) == ("accept", False)
    llm.answer = {"intent": "accept", "concerns": []}
    got = await unsure.classify("好的，我接受这个offer")
    assert got == Classification("accept", (), "llm", True, local.confidence, "llm:test-model")
    assert len(llm.requests) == 1
    # the LLM names a decision the model did not read: still unsure (the bot confirms)
    llm.answer = {"intent": "decline", "concerns": []}
    assert (await unsure.classify("好的，我接受这个offer")).sure is False


async def test_llm_failure_keeps_the_local_reading(llm, tmp_path: Path) -> None:
    llm.mode = "500"
    p = LocalProvider(_served(tmp_path, 1.01), llm.provider)
    got = await p.classify("好的，我接受这个offer")
    assert (got.intent, got.sure, got.source) == ("accept", False, "model")
    assert len(llm.requests) == 1


async def test_a_broken_model_file_falls_back_to_the_next_or_shipped(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "intents-0001-abcdef.npz").write_bytes(b"torn")
    p = LocalProvider(tmp_path)
    assert p.model_name == shipped_model().name


def test_benchmark_targets_on_labelled_set() -> None:
    """A regression guard: the rules must keep the targets on the labelled set."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_intents", Path(__file__).parent.parent / "bench" / "intents.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.evaluate(DATA / "intents_labelled.jsonl")
    assert res["rows"] >= 320
    assert res["macro_f1"] >= 0.90
    assert res["hesitate_recall"] >= 0.90
    assert res["concern_micro_f1"] >= 0.85
