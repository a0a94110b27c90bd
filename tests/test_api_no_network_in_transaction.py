"""POST /api/v1/offers asks the platforms (find_user, the invite link) before its database
transaction, never while it holds rows or the write lock (see docs/architecture.md)."""

from __future__ import annotations

import asyncpg
import pytest

from bot.storage.models import Offer
from tests.conftest import PG_URL
from tests.standins.wecom import Call, wecom_env
from tests.test_wecom_conversation import make_offer

PLATFORM_LOOKUPS = ("user/getuserid", "kf/add_contact_way")


@pytest.fixture
async def env(settings_factory, make_runtime):
    async with wecom_env(settings_factory, make_runtime) as e:
        yield e


async def _in_transaction(db_url: str, clients: list) -> bool:
    """Whether some connection of the bot is inside a transaction right now."""
    if PG_URL:
        conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
        try:
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return busy > 0
    # SQLite: one connection, and tortoise holds its transaction lock for a transaction's
    # whole length (the stand-in answers in another task, outside that transaction).
    return any(client._lock.locked() for client in clients)


async def test_an_offer_looks_the_candidate_up_and_drafts_the_invite_first(env):
    seen: list[tuple[str, bool]] = []

    async def watch(call: Call) -> None:
        if call.endpoint in PLATFORM_LOOKUPS:
            seen.append(
                (
                    call.endpoint,
                    await _in_transaction(env.rt.settings.database.url, env.rt.db_clients),
                )
            )

    env.standin.on_call = watch
    answer = await make_offer(env)  # not a member, mobile unknown: an invite link is made
    assert [endpoint for endpoint, _ in seen] == list(PLATFORM_LOOKUPS)
    assert seen == [(endpoint, False) for endpoint in PLATFORM_LOOKUPS]
    offer = await Offer.get(id=answer["id"])
    assert (offer.stage, offer.invite_code) == ("awaiting_binding", answer["invite_code"])
    assert offer.invite_url == answer["invite_url"] and answer["invite_code"] in offer.invite_url


async def test_a_reply_is_read_before_the_conversation_is_locked(settings_factory, make_runtime):
    """With `[intents] provider = "llm"`, the LLM is asked about an unsure reply before the
    worker's transaction: it answers while no transaction is open."""
    import json

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from bot.understanding.model import shipped_model
    from tests.helpers import drain
    from tests.standins.wecom import text_xml
    from tests.test_wecom_conversation import make_offer

    seen: list[bool] = []
    holder: dict = {}

    async def completions(request: web.Request) -> web.Response:
        rt = holder["rt"]
        seen.append(await _in_transaction(rt.settings.database.url, rt.db_clients))
        content = json.dumps({"intent": "accept", "concerns": []})
        return web.json_response({"choices": [{"message": {"content": content}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    llm = TestServer(app, host="127.0.0.1", port=0)
    await llm.start_server()
    intents = {
        "provider": "llm",
        "llm_base_url": str(llm.make_url("")).rstrip("/"),
        "llm_model": "test",
        "llm_timeout": "5s",
    }
    try:
        async with wecom_env(settings_factory, make_runtime, intents=intents) as e:
            holder["rt"] = e.rt
            await make_offer(e, wecom_user_id="lisi")
            # Replies the local model is unsure of (so the LLM is asked): chosen with the
            # model the bot serves, so retraining it cannot make this test vacuous.
            model = shipped_model()
            maybe = (
                *("行吧", "行吧那就这样", "好像可以接受", "嗯…应该行", "那就先这样吧", "ok吧"),
                *("应该没问题吧", "那就这么着吧", "大概率接受"),
            )
            unsure = [t for t in maybe if not model.read(t).sure]
            assert unsure, "no unsure reply left to test with: add more ambiguous ones"
            for text in unsure[:2]:
                assert (await e.callback(text_xml("lisi", text))).status == 200
                await drain(e.rt)
    finally:
        await llm.close()
    assert seen, "the LLM was consulted"
    assert not any(seen), "the LLM was asked inside a transaction"
