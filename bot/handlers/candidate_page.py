"""The candidate page: GET /c/{token} and what it needs under it (docs/candidate-page.md).

    GET  /c/{token}                 the page (HTML; its JS and CSS next to it)
    GET  /c/{token}/api/state       the offer, buttons, document progress k/n, the guide
    GET  /c/{token}/api/history     the conversation (or what changed `since`)
    GET  /c/{token}/api/events      the same, live (server-sent events)
    POST /c/{token}/api/send        a typed message or a button click (JSON)
    POST /c/{token}/api/upload      one onboarding document (multipart, field `file`)

Every request passes `bot.candidate_page.guard` (limits per IP and per token) and the
token check; an unknown, tampered or expired token gets the same 404 page whatever the
reason. What the candidate sends takes the platforms' durable path (`store_inbound`, then
the worker) as the web user bound to them, so the flows answer exactly as in chat. No HR
power: the candidate writes only as themselves, in a private chat, with candidate buttons.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import filetype
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.candidate_page import guard, view
from bot.channels.base import Inbound, MediaRef
from bot.channels.web import candidate_page_enabled
from bot.channels.web.channel import WebChannel, prune_uploads, store_upload
from bot.handlers.common import RUNTIME_KEY, read_body, runtime
from bot.handlers.uploads import UPLOAD_KINDS, clean_filename, read_part
from bot.playground import feed, stream
from bot.services import candidate_links
from bot.services.ingest import store_inbound
from bot.storage.models import Candidate

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "candidate_page"
SHARED_STATIC = Path(__file__).resolve().parent.parent / "web_static"  # the pages' common script
STATIC_FILES = {
    "page.css": (STATIC_DIR / "page.css", "text/css"),
    "page.js": (STATIC_DIR / "page.js", "text/javascript"),
    "chat.js": (SHARED_STATIC / "chat.js", "text/javascript"),
}
NOT_FOUND = (STATIC_DIR / "not_found.html").read_bytes()
PAGE = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
MAX_JSON_BYTES = 8 * 1024
MAX_TEXT = 2000
CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"
# The buttons a candidate is ever shown (offer, confirmation, decline reasons, documents).
CANDIDATE_ACTION = re.compile(
    r"^(accept|decline|question|renege|docs_skip|docs_progress|reason:[a-z_]{1,32})$"
)

GUARD: web.AppKey[Any] = web.AppKey("candidate_page_guard", object)
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("candidate_page_stopping", asyncio.Event)


@dataclass
class Guard:
    limiter: guard.Limiter
    proxies: tuple


@dataclass(frozen=True)
class Visit:
    candidate: Candidate
    address: str  # the candidate's web address: what they write as
    scheme: str


Page = Callable[[web.Request, Visit], Awaitable[web.StreamResponse]]


# -- answers ----------------------------------------------------------------------------------


def not_found(scheme: str) -> web.Response:
    """The one answer for every bad token: same status, headers and bytes."""
    response = web.Response(status=404, body=NOT_FOUND, content_type="text/html", charset="utf-8")
    return guard.secure(response, scheme)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(status: int, code: str, **extra: Any) -> web.Response:
    return _json({"error": code, **extra}, status)


def _too_many(scheme: str) -> web.Response:
    response = _error(429, "too_many_requests")
    response.headers["Retry-After"] = "60"
    return guard.secure(response, scheme)


def visit(*, writes: bool = False) -> Callable[[Page], Callable]:
    """The checks every candidate page request passes, in order: the IP's limits, the
    token, the token's limits; then the handler, whose answer gets the security headers."""

    def wrap(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def check(request: web.Request) -> web.StreamResponse:
            rt, g = runtime(request), request.app[GUARD]
            ip = guard.client_ip(request, g.proxies)
            scheme = guard.client_scheme(request, g.proxies)
            if not g.limiter.hit(f"ip:{ip}", guard.IP_LIMIT):
                return _too_many(scheme)
            if g.limiter.used(f"miss:{ip}", guard.IP_MISSES):
                return _too_many(scheme)
            token = request.match_info.get("token", "")
            candidate = await candidate_links.resolve(token, rt.clock())
            if candidate is None:
                g.limiter.hit(f"miss:{ip}", guard.IP_MISSES)
                return not_found(scheme)
            key = candidate_links.token_hash(token)[:24]
            if not g.limiter.hit(f"token:{key}", guard.TOKEN_LIMIT):
                return _too_many(scheme)
            if writes and not g.limiter.hit(f"writes:{key}", guard.TOKEN_WRITES):
                return _too_many(scheme)
            if writes and request.headers.get("Sec-Fetch-Site") == "cross-site":
                return guard.secure(_error(403, "cross_site"), scheme)
            address = await view.web_address(candidate)
            response = await handler(request, Visit(candidate, address, scheme))
            if not response.prepared:
                guard.secure(response, scheme)
            return response

        return check

    return wrap


async def unknown(request: web.Request) -> web.Response:
    """Anything else under /c/: the same 404 page (after the IP's limit)."""
    g = request.app[GUARD]
    ip, scheme = guard.client_ip(request, g.proxies), guard.client_scheme(request, g.proxies)
    if not g.limiter.hit(f"ip:{ip}", guard.IP_LIMIT):
        return _too_many(scheme)
    g.limiter.hit(f"miss:{ip}", guard.IP_MISSES)
    return not_found(scheme)


def _channel(request: web.Request) -> WebChannel:
    channel = runtime(request).channels.get("web")
    assert isinstance(channel, WebChannel)  # routes exist only when it does
    return channel


# -- the page and what it shows -------------------------------------------------------------


@visit()
async def page(request: web.Request, v: Visit) -> web.Response:
    # The token is in the URL already; the page refers to its files relative to it, so a
    # path prefix in front of the server (public_url "https://x/hr") works unchanged.
    token = request.match_info["token"]
    html = PAGE.replace("{{base}}", token)  # a token is [A-Za-z0-9_-] only
    return web.Response(text=html, content_type="text/html", charset="utf-8")


@visit()
async def static_file(request: web.Request, v: Visit) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        return not_found(v.scheme)
    path, content_type = STATIC_FILES[name]
    return web.Response(body=path.read_bytes(), content_type=content_type, charset="utf-8")


@visit()
async def state(request: web.Request, v: Visit) -> web.Response:
    """The offer and progress; for an invited candidate, opening the page binds them."""
    rt = runtime(request)
    offer = await view.page_offer(v.candidate)
    bind = view.binding_inbound(offer, v.address, rt) if offer else None
    if bind is not None:
        await store_inbound(rt, bind)  # the binding flow sends the offer here
    return _json(await view.page_state(rt, v.candidate))


def _pane(v: Visit) -> tuple[feed.Pane, ...]:
    return (feed.Pane("candidate", (v.address,), (v.address,)),)


def _since(request: web.Request) -> tuple[datetime | None, web.Response | None]:
    raw = request.query.get("since", "")
    if not raw:
        return None, None
    try:
        since = datetime.fromisoformat(raw[:64])
    except ValueError:
        return None, _error(400, "since: not an ISO 8601 time")
    if since.tzinfo is None:
        return None, _error(400, "since: needs a UTC offset")
    return since, None


def _shown(item: dict[str, Any]) -> dict[str, Any] | None:
    """A feed item as the candidate sees it: their own binding event is not shown."""
    if item.get("kind") == "event":
        return None
    item.pop("event", None)
    return item


@visit()
async def history(request: web.Request, v: Visit) -> web.Response:
    rt = runtime(request)
    since, bad = _since(request)
    if bad is not None:
        return bad
    now = rt.clock()
    items = await feed.load_items(_pane(v), now, since)
    return _json({"items": [i for i in map(_shown, items) if i], "now": now.isoformat()})


class _Filtered:
    """Writes a stream's events minus the ones the candidate is not shown."""

    def __init__(self, response: web.StreamResponse):
        self.response = response

    async def write(self, data: bytes) -> None:
        if data.startswith(b"event: message\ndata: "):
            payload = json.loads(data[len(b"event: message\ndata: ") :])
            shown = _shown(payload)
            if shown is None:
                return
            data = f"event: message\ndata: {json.dumps(shown, ensure_ascii=False)}\n\n".encode()
        await self.response.write(data)


@visit()
async def events(request: web.Request, v: Visit) -> web.StreamResponse:
    """Server-sent events of the conversation (bot/playground/stream.py does the work)."""
    rt = runtime(request)
    since, bad = _since(request)
    if bad is not None:
        return bad
    response = guard.secure(web.StreamResponse(headers=stream.HEADERS), v.scheme)
    response.headers["Cache-Control"] = "no-store"
    await response.prepare(request)
    try:
        await stream.run(
            _Filtered(response),  # type: ignore[arg-type]
            channel=_channel(request),
            panes=_pane(v),
            since=since or rt.clock(),
            clock=rt.clock,
            stopping=request.app[STOPPING],
        )
    except ConnectionError:
        log.debug("candidate page event stream closed")
    return response


# -- what the candidate sends -----------------------------------------------------------------


class SendBody(BaseModel):
    """A typed message or a button click."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field("", max_length=MAX_TEXT)
    action: dict[str, str | int | None] | None = None
    client_id: str = Field(pattern=CLIENT_ID)

    @field_validator("action")
    @classmethod
    def _action(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        if len(v) > 4 or not CANDIDATE_ACTION.match(str(v.get("action", ""))):
            raise ValueError("not a button of this page")
        if any(len(k) > 32 or (isinstance(x, str) and len(x) > 64) for k, x in v.items()):
            raise ValueError("too long")
        return v


def _inbound(v: Visit, client_id: str, now: datetime, **content: Any) -> Inbound:
    return Inbound(
        platform=view.PLATFORM,
        event_id=f"{v.address}/{client_id}",
        sender_id=v.address,
        chat_type="p2p",
        at=now,
        **content,
    )


async def _accept(request: web.Request, inbound: Inbound) -> web.Response:
    row_id, created = await store_inbound(runtime(request), inbound)
    _channel(request).wake()  # the page's own message shows at once
    return _json({"id": row_id, "duplicate": not created}, 202)


@visit(writes=True)
async def send(request: web.Request, v: Visit) -> web.Response:
    if request.content_type != "application/json":
        return _error(415, "send JSON (Content-Type: application/json)")
    try:
        raw = await read_body(request, MAX_JSON_BYTES)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", max_bytes=MAX_JSON_BYTES)
    try:
        body = SendBody.model_validate_json(raw)
    except ValidationError as exc:
        fields = [".".join(map(str, e["loc"])) or "body" for e in exc.errors()]
        return _error(422, "invalid", fields=fields[:10])
    text = body.text.strip()
    if bool(text) == bool(body.action):
        return _error(422, "invalid", fields=["text", "action"])
    now = runtime(request).clock()
    if body.action:
        inbound = _inbound(v, body.client_id, now, kind="action", action=body.action)
    else:
        inbound = _inbound(v, body.client_id, now, kind="text", text=text)
    return await _accept(request, inbound)


def _upload_limit(request: web.Request) -> int:
    return int(runtime(request).settings.storage.max_document_mb * 1024 * 1024)


async def _read_upload(request: web.Request, limit: int) -> tuple[bytes, str, str]:
    """(file bytes, file name, client id) of the multipart body; ValueError if malformed."""
    data, filename, client_id = b"", "", ""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart")
        if part.name == "file" and not data:
            filename = clean_filename(part.filename)
            data = await read_part(part, limit)
        elif part.name == "client_id" and not client_id:
            client_id = (await read_part(part, 128)).decode("ascii", "replace")
        else:
            raise ValueError("unexpected field")
    return data, filename, client_id


@visit(writes=True)
async def upload(request: web.Request, v: Visit) -> web.Response:
    """One onboarding document. The door refuses what the documents flow could never take
    (size, type from the bytes); the flow checks the rest and answers in the conversation."""
    rt, limit = runtime(request), _upload_limit(request)
    mb = rt.settings.storage.max_document_mb
    too_large = _error(
        413, "too_large", message=rt.catalog.t("candidate_page.ui.upload_too_large", mb=f"{mb:g}")
    )
    if not request.content_type.startswith("multipart/form-data"):
        return _error(415, "send multipart/form-data with a 'file' field")
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return too_large
    try:
        data, filename, client_id = await _read_upload(request, limit)
    except web.HTTPRequestEntityTooLarge:
        return too_large
    except (ValueError, AssertionError, HttpProcessingError):  # a broken body (aiohttp, ours)
        return _error(400, "malformed multipart body")
    if not re.match(CLIENT_ID, client_id):
        return _error(422, "invalid", fields=["client_id"])
    if not data:
        return _error(400, "no file (or an empty one) in the 'file' field")
    kind = UPLOAD_KINDS.get(filetype.guess_mime(data) or "")
    if kind is None:
        message = rt.catalog.t("candidate_page.ui.upload_wrong_type")
        return _error(415, "wrong_type", message=message)
    # Kept private under <data_dir>/uploads (never served back); pruned after 3 days.
    key = await asyncio.to_thread(store_upload, rt.settings.data_dir, data)
    await asyncio.to_thread(prune_uploads, rt.settings.data_dir)
    media = MediaRef(kind=kind, key=key, filename=filename, size=len(data))
    return await _accept(request, _inbound(v, client_id, rt.clock(), kind=kind, media=(media,)))


# -- wiring -------------------------------------------------------------------------------------


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING].set()
    channel = app[RUNTIME_KEY].channels.get("web")
    if isinstance(channel, WebChannel):
        channel.wake()


def setup(app: web.Application) -> None:
    settings = app[RUNTIME_KEY].settings
    if not candidate_page_enabled(settings):
        return  # no web channel to talk on: /c/ answers aiohttp's 404
    app[GUARD] = Guard(guard.Limiter(), guard.parse_proxies(settings.server.trusted_proxies))
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/c/{token}", page)
    app.router.add_get("/c/{token}/{name:(?:page|chat)\\.(?:js|css)}", static_file)
    app.router.add_get("/c/{token}/api/state", state)
    app.router.add_get("/c/{token}/api/history", history)
    app.router.add_get("/c/{token}/api/events", events)
    app.router.add_post("/c/{token}/api/send", send)
    app.router.add_post("/c/{token}/api/upload", upload)
    app.router.add_route("*", "/c/{rest:.*}", unknown)
