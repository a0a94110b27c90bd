"""The composition root: builds what a process runs with and puts it into the runtime.

bot/runtime.py opens the shared resources; this module decides which implementations
they feed — the enabled channels, the reply classifier the config names, the document
store — so that no lower layer reaches up to build them. Every process (server, worker,
importer, tests) starts with `start_runtime` here. See docs/architecture.md.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from bot.channels.base import Needs
from bot.channels.registry import build_channels
from bot.config import Settings
from bot.documents.store import LocalDocumentStore
from bot.runtime import Runtime, open_runtime

__all__ = ["channel_needs", "classifier", "compose", "start_runtime"]


def classifier(settings: Settings) -> Any:
    """The reply reader: the learned model (the newest kept under data_dir/models, else the
    shipped one) with the rules, and an LLM endpoint when [intents] names one."""
    # Imported with the first reply, not at start (the model and jieba take seconds).
    from bot.understanding.providers import make_provider

    i = settings.intents
    return make_provider(
        i.provider,
        i.llm_base_url,
        i.llm_model,
        i.llm_api_key,
        i.llm_timeout.total_seconds(),
        data_dir=settings.data_dir,
    )


def channel_needs(rt: Runtime) -> Needs:
    """What the channels are built from: the few things they need, not the runtime."""
    return Needs(
        rt.settings, http=rt.http, redis=rt.redis, problems=rt.problems, catalog=rt.catalog
    )


def compose(rt: Runtime) -> Runtime:
    s = rt.settings
    # Built on first use: a process that never reads a reply never opens the LLM client.
    rt.make_intents = partial(classifier, s)
    rt.channels = build_channels(channel_needs(rt))
    rt.documents = LocalDocumentStore(s.data_dir / "documents")
    return rt


async def start_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Open the runtime (migrating the schema first unless told not to) and compose it."""
    return compose(await open_runtime(settings, migrate=migrate))
