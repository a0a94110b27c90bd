"""What the two platform clients share (bot/channels/platform/), tried on both through
their stand-ins: the token cache when Redis is down, and the size-limited download."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.channels.base import MediaRef, Outgoing, Recipient
from bot.documents.checks import check_document
from tests.standins.feishu import FeishuStandin, Resource, feishu_config
from tests.standins.wecom import wecom_env

LIMIT_MB = 0.001  # 1048 bytes
LIMIT = int(LIMIT_MB * 1024 * 1024)


@dataclass
class Platform:
    channel: Any
    tokens_issued: Callable[[], int]
    delivered: Callable[[], list[Any]]
    media: Callable[[bytes], MediaRef]  # put a file on the stand-in, get its reference


@pytest.fixture(params=["wecom", "feishu"])
async def platform(request, settings_factory, make_runtime) -> AsyncIterator[Platform]:
    storage = {"max_document_mb": LIMIT_MB}
    if request.param == "wecom":
        async with wecom_env(settings_factory, make_runtime, storage=storage) as env:

            def wecom_media(data: bytes) -> MediaRef:
                media_id = env.standin.add_media(data, "big.pdf", "application/pdf")
                return MediaRef(kind="file", key=media_id)

            yield Platform(
                env.channel,
                lambda: env.standin.tokens_issued,
                lambda: env.standin.delivered("message/send"),
                wecom_media,
            )
        return
    async with FeishuStandin() as standin:
        rt = await make_runtime(settings_factory(feishu=feishu_config(standin), storage=storage))

        def feishu_media(data: bytes) -> MediaRef:
            standin.add_resource("om_big", "file_big", Resource(data, "file", "big.pdf"))
            return MediaRef(kind="file", key="file_big", message_id="om_big")

        yield Platform(
            rt.channels["feishu"],
            lambda: len(standin.calls_to("token")),
            lambda: standin.messages,
            feishu_media,
        )


@pytest.fixture
async def dead_redis(tmp_path) -> AsyncIterator[Redis]:
    """A real Redis client whose server is not there (nothing listens on the socket)."""
    client = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    yield client
    await client.aclose()


async def test_redis_down_still_fetches_one_token_and_sends(platform, dead_redis):
    platform.channel.api.tokens.redis = dead_redis
    sends = [
        platform.channel.send(Recipient("user", f"user{i}"), Outgoing(text="您好"), f"k{i}")
        for i in range(5)
    ]
    await asyncio.gather(*sends)
    assert len(platform.delivered()) == 5
    assert platform.tokens_issued() == 1  # one fetch in this process at a time


async def test_redis_down_a_refused_token_is_fetched_again(platform, dead_redis):
    platform.channel.api.tokens.redis = dead_redis
    await platform.channel.send(Recipient("user", "u1"), Outgoing(text="a"), "a")
    await platform.channel.send(Recipient("user", "u2"), Outgoing(text="b"), "b")
    assert platform.tokens_issued() == 1  # kept in memory meanwhile
    cached = await platform.channel.api.token()
    await platform.channel.api.tokens.refused(cached)
    await platform.channel.send(Recipient("user", "u3"), Outgoing(text="c"), "c")
    assert platform.tokens_issued() == 2
    assert len(platform.delivered()) == 3


async def test_an_oversized_download_stops_one_byte_past_the_limit_and_is_refused(platform):
    got = await platform.channel.download(platform.media(b"%PDF-1.4\n" + b"0" * 50_000))
    assert len(got.data) == LIMIT + 1
    result = check_document(got.data, max_bytes=LIMIT, accepts=("pdf",))
    assert result.problem == "too_large"


async def test_a_download_within_the_limit_is_whole(platform):
    data = b"%PDF-1.4\n" + b"0" * (LIMIT - 9)
    got = await platform.channel.download(platform.media(data))
    assert got.data == data


async def test_a_stuck_lock_holder_does_not_stop_sending(platform):
    """A process that took the token lock and died holding it: the others wait a while
    (here 0.2 s), then fetch for themselves."""
    tokens = platform.channel.api.tokens
    tokens.wait_seconds = 0.2
    await tokens.redis.set(tokens.key + ":lock", "a-dead-process", ex=60)
    await platform.channel.send(Recipient("user", "u1"), Outgoing(text="您好"), "k1")
    assert len(platform.delivered()) == 1
    assert platform.tokens_issued() == 1
    assert await tokens.redis.get(tokens.key)  # and shared it for the next process
