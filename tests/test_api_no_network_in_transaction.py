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
