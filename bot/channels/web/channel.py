"""The `web` channel: the candidate page's conversation (docs/candidate-page.md), the
playground's chat panes, and a channel the tests can read.

Sent messages are the outbox rows themselves (platform `web`, status `sent`); sending only
tells the page's live listeners, which read the rows from the database. Listeners in
another process (the page is served by `serve`, its worker child sends) hear it through
Redis pub/sub at once; without Redis they still see it at their next database read.

Media works like a platform's media API: the playground stores an upload under
`<data_dir>/uploads/<random key>` and puts the key in the Inbound; `download()` reads it
back in the worker. Uploads older than the platforms' media lifetime (3 days) are pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import filetype

from bot.channels.base import (
    Channel,
    DownloadedFile,
    MediaRef,
    Needs,
    Outgoing,
    PermanentError,
    Recipient,
    SendResult,
)

# The playground's HR user: its HR pane writes as `web:playground-hr`, an HR admin while
# the playground is enabled (see Turn.is_admin in flows/router.py).
PLAYGROUND_HR_ID = "playground-hr"
# Web addresses of candidates who came through their candidate page (not the playground):
# the page notifies nobody, so reminders to them also go by SMS / e-mail.
PAGE_ADDRESS_PREFIX = "page-"

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 0.5  # seconds a send waits to tell other processes (never longer)
UPLOADS_DIR = "uploads"
UPLOAD_LIFETIME_SECONDS = 3 * 24 * 3600  # like WeCom media ids
_UPLOAD_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def uploads_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / UPLOADS_DIR
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def upload_path(data_dir: Path, key: str) -> Path:
    """Where an upload lives; refuses keys that are not ours (no path tricks)."""
    if not _UPLOAD_KEY.match(key):
        raise PermanentError(f"not an upload key: {key[:80]!r}")
    return uploads_dir(data_dir) / key


def new_upload_key() -> str:
    return secrets.token_urlsafe(18)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only the service can read (uploads are personal documents)."""
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(part, path)


def store_upload(data_dir: Path, data: bytes) -> str:
    """Keep an upload under a new random key; returns the key."""
    key = new_upload_key()
    write_private(upload_path(data_dir, key), data)
    return key


def prune_uploads(data_dir: Path, now: float | None = None) -> int:
    """Delete uploads past their lifetime (and parts of aborted uploads); returns how many."""
    cutoff = (now or time.time()) - UPLOAD_LIFETIME_SECONDS
    removed = 0
    for entry in uploads_dir(data_dir).iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:  # pruned by a concurrent request
            continue
    return removed


@dataclass(frozen=True)
class WebDelivery:
    """What a live listener hears when the web channel sends a message."""

    address: str
    message: Outgoing
    key: str  # the outbox idempotency key: the page's id for the message


class WebChannel(Channel):
    name = "web"

    def __init__(self, needs: Needs, *, hr: bool = True):
        super().__init__(needs)
        self.hr = hr  # False: candidates only (the candidate page without the playground)
        self._listeners: set[asyncio.Queue] = set()
        self._relay: asyncio.Task | None = None  # hears other processes' sends

    @property
    def _topic(self) -> str:
        """One pub/sub channel per bot (its database), whatever Redis db it uses."""
        digest = hashlib.sha256(self.settings.database.url.encode()).hexdigest()[:16]
        return f"offerbot:web-sent:{digest}"

    async def send(self, to: Recipient, message: Outgoing, idempotency_key: str) -> SendResult:
        delivery = WebDelivery(to.address, message, idempotency_key)
        self._publish(delivery)
        if self.redis is not None:
            dumped = message.model_dump(mode="json")
            body = {"address": to.address, "key": idempotency_key, "message": dumped}
            try:
                publish = self.redis.publish(self._topic, json.dumps(body, ensure_ascii=False))
                await asyncio.wait_for(publish, PUBLISH_TIMEOUT)  # Redis down: do not hang
            except Exception as exc:  # noqa: BLE001 - the page reads the database anyway
                log.debug("web delivery not published: %s", type(exc).__name__)
        return SendResult(message_id=idempotency_key)

    async def _listen(self) -> None:
        """Other processes' sends, to this process's listeners (the stream drops repeats)."""
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self._topic)
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    body = json.loads(item["data"])
                    message = Outgoing.model_validate(body["message"])
                    self._publish(WebDelivery(body["address"], message, body["key"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: listen again in a moment
                log.debug("web relay interrupted: %s", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(1)

    async def close(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
            self._relay = None
        await super().close()

    async def download(self, media: MediaRef) -> DownloadedFile:
        path = upload_path(self.settings.data_dir, media.key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise PermanentError("the upload has expired or never existed") from None
        return DownloadedFile(
            data=data, filename=media.filename, content_type=filetype.guess_mime(data) or ""
        )

    def can_reach_hr(self) -> bool:
        return self.hr

    # -- live listeners (the playground's event streams) ----------------------------

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._listeners.add(queue)
        if self._relay is None and self.redis is not None:
            self._relay = asyncio.create_task(self._listen())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)

    def wake(self) -> None:
        """Tell listeners the database changed (a message the page itself sent)."""
        self._publish(None)

    def _publish(self, item: WebDelivery | None) -> None:
        for queue in list(self._listeners):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a stalled page: it catches up from the database
                continue
