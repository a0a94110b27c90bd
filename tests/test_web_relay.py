"""The web channel tells the playground's listeners in ANOTHER process at once: the page
is served by `offerbot serve`, the message is sent by its worker child (Redis pub/sub,
bot/channels/web/channel.py). Two runtimes on the same database and Redis stand for the two."""

from __future__ import annotations

import asyncio

from bot.channels.base import Outgoing, Recipient
from bot.channels.web.channel import WebDelivery
from tests.helpers import wait_for


async def test_a_send_in_one_process_reaches_the_listeners_of_another(make_runtime):
    serve, child = await make_runtime(), await make_runtime()
    page = serve.channels["web"].subscribe()  # the playground's stream in serve
    topic = serve.channels["web"]._topic

    async def listening() -> bool:
        return (await child.redis.pubsub_numsub(topic))[0][1] >= 1

    await wait_for(listening)
    await child.channels["web"].send(Recipient("user", "cand1"), Outgoing(text="您好"), "k-1")
    heard = await asyncio.wait_for(page.get(), timeout=10)
    assert isinstance(heard, WebDelivery)
    assert (heard.address, heard.key, heard.message.text) == ("cand1", "k-1", "您好")
    serve.channels["web"].unsubscribe(page)
