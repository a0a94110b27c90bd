"""The playground: /playground, a page where the whole product runs in a browser.

The page plays both sides: a candidate chatting with the bot, and HR in the HR group.
What it sends takes the platforms' durable path (an `Inbound` on the `web` platform →
`store_inbound` → the worker); what the bot sends is read back from the outbox.

Access (see `bot.channels.web.playground_enabled` and `bot.playground.access`): beside
a real platform the page exists only with an API token or a localhost bind. Every request
has its `Host` and `Origin` checked; every `/playground/api/*` call except `config` needs
`Authorization: Bearer <api.token>` (the page asks for it) when the request did not come
directly from this machine, or beside a real platform on a non-loopback bind.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import filetype
from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from bot.channels.base import Inbound, MediaRef
from bot.channels.web import playground_enabled
from bot.channels.web.channel import (
    PLAYGROUND_HR_ID,
    WebChannel,
    prune_uploads,
    store_upload,
)
from bot.handlers.common import RUNTIME_KEY, json_error, read_body, runtime
from bot.handlers.uploads import UPLOAD_KINDS, clean_filename, read_part
from bot.playground import access, feed, stream
from bot.playground.inbound import (
    USER_ID,
    BadInput,
    SendBody,
    check_uploader,
    message_inbound,
    new_client_id,
    upload_inbound,
)
from bot.services.ingest import store_inbound
from bot.storage.models import Candidate

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "playground"
SHARED_STATIC = Path(__file__).resolve().parent.parent / "web_static"  # the pages' common script
STATIC_FILES = {
    "app.css": (STATIC_DIR / "app.css", "text/css"),
    "app.js": (STATIC_DIR / "app.js", "text/javascript"),
    "chat.js": (SHARED_STATIC / "chat.js", "text/javascript"),
}

_USER_ID = re.compile(USER_ID)
MAX_JSON_BYTES = 16 * 1024

STOPPING: web.AppKey[asyncio.Event] = web.AppKey("playground_stopping", asyncio.Event)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- access ------------------------------------------------------------------------------


def _refused(request: web.Request, settings) -> web.Response | None:
    """Host and Origin checks for every playground request (bot/playground/access.py)."""
    if not access.host_ok(request, settings):
        return json_error(421, "this host name is not served here")
    if not access.origin_ok(request):
        return json_error(403, "cross-site requests are refused")
    return None


def host_checked(handler: Handler) -> Handler:
    async def check(request: web.Request) -> web.StreamResponse:
        return _refused(request, runtime(request).settings) or await handler(request)

    return check


def _token_ok(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def guarded(handler: Handler) -> Handler:
    async def check(request: web.Request) -> web.StreamResponse:
        settings = runtime(request).settings
        refused = _refused(request, settings)
        if refused is not None:
            return refused
        if access.token_required(request, settings) and not _token_ok(request, settings.api.token):
            response = json_error(401, "a valid API token is required")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await handler(request)

    return check


def _web_channel(request: web.Request) -> WebChannel:
    channel = runtime(request).channels.get("web")
    assert isinstance(channel, WebChannel)  # routes exist only when it is enabled
    return channel


# -- the page --------------------------------------------------------------------------

_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@host_checked
async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)


@host_checked
async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    path, content_type = STATIC_FILES[name]
    return web.FileResponse(path, headers={**_PAGE_HEADERS, "Content-Type": content_type})


@host_checked
async def config(request: web.Request) -> web.Response:
    """What the page needs before anything else: no data, so no token."""
    rt = runtime(request)
    s = rt.settings
    return web.json_response(
        {
            "token_required": access.token_required(request, s),
            "language": rt.catalog.language,
            "words": rt.catalog.raw("playground.ui"),
            "hr_id": PLAYGROUND_HR_ID,
            "max_upload_mb": s.storage.max_document_mb,
            "quiet_hours": s.company.quiet_hours,
            "timezone": s.company.timezone,
        }
    )


# -- reading what the panes show -----------------------------------------------------------


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _too_large(limit: int) -> web.Response:
    return json_error(413, f"too large: {limit} bytes at most", max_bytes=limit)


def _user_param(request: web.Request) -> str | None:
    user = request.query.get("user", "")
    if not user:
        return None
    if not _USER_ID.match(user):
        raise _bad_request("user: not a web user id")
    return user


def _since_param(request: web.Request) -> datetime | None:
    raw = request.query.get("since", "")
    if not raw:
        return None
    try:
        since = datetime.fromisoformat(raw[:64])
    except ValueError:
        raise _bad_request("since: not an ISO 8601 time") from None
    if since.tzinfo is None:
        raise _bad_request("since: needs a UTC offset")
    return since


@guarded
async def history(request: web.Request) -> web.Response:
    """Both panes' messages (the latest, or those since `since`), oldest first."""
    rt = runtime(request)
    now = rt.clock()
    panes = feed.panes_for(_user_param(request))
    items = await feed.load_items(panes, now, _since_param(request), catalog=rt.catalog)
    return web.json_response({"items": items, "now": now.isoformat()})


@guarded
async def candidates(request: web.Request) -> web.Response:
    """Who the candidate pane can be: candidates reachable on the web channel."""
    rows = await (
        Candidate.filter(web_id__isnull=False, erased_at__isnull=True)
        .order_by("-id")
        .limit(50)
        .values("id", "name", "web_id")
    )
    return web.json_response(
        {"candidates": [{"id": r["id"], "name": r["name"], "user": r["web_id"]} for r in rows]}
    )


@guarded
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for both panes (see bot/playground/stream.py)."""
    rt = runtime(request)
    panes = feed.panes_for(_user_param(request))
    since = _since_param(request) or rt.clock()
    response = web.StreamResponse(headers=stream.HEADERS)
    await response.prepare(request)
    try:
        await stream.run(
            response,
            channel=_web_channel(request),
            panes=panes,
            since=since,
            clock=rt.clock,
            stopping=request.app[STOPPING],
        )
    except ConnectionError:
        log.debug("playground event stream closed by the page")
    return response


@guarded
async def image(request: web.Request) -> web.StreamResponse:
    """A chart the bot sent (`Outgoing.image_key`), from `<data_dir>/charts`."""
    name = request.match_info["name"]
    if not (name.endswith(".png") and len(name) <= 100 and _is_plain_name(name)):
        raise web.HTTPNotFound()
    path = runtime(request).settings.data_dir / "charts" / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(
        path, headers={"Content-Type": "image/png", "Cache-Control": "no-cache"}
    )


def _is_plain_name(name: str) -> bool:
    return name.isascii() and all(ch.isalnum() or ch in "_.-" for ch in name) and ".." not in name


# -- writing as the candidate or as HR ------------------------------------------------------


def _field_errors(errors: list[dict[str, str]]) -> web.Response:
    return web.json_response({"errors": errors}, status=422)


def _pydantic_errors(exc: ValidationError) -> web.Response:
    return _field_errors(
        [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
    )


async def _accept(request: web.Request, inbound: Inbound) -> web.Response:
    """The platforms' durable path: stored (once per event id) and enqueued for the worker."""
    row_id, created = await store_inbound(runtime(request), inbound)
    _web_channel(request).wake()  # the page's own message shows up at once
    return web.json_response(
        {"id": row_id, "duplicate": not created, "event_id": inbound.event_id}, status=202
    )


@guarded
async def send(request: web.Request) -> web.Response:
    """A typed message, a button click or an opened invite link (JSON, see SendBody)."""
    if request.content_type != "application/json":
        return json_error(415, "send JSON (Content-Type: application/json)")
    try:
        raw = await read_body(request, MAX_JSON_BYTES)
    except web.HTTPRequestEntityTooLarge:
        return _too_large(MAX_JSON_BYTES)
    try:
        body = SendBody.model_validate_json(raw)
        inbound = message_inbound(body, runtime(request).clock())
    except ValidationError as exc:
        kinds = {(e["type"], bool(e["loc"])) for e in exc.errors()}
        if ("json_invalid", False) in kinds:
            return json_error(400, "malformed JSON")
        if ("model_type", False) in kinds:
            return json_error(400, "the body must be a JSON object")
        return _pydantic_errors(exc)
    except BadInput as exc:
        return _field_errors([{"field": exc.field, "message": str(exc)}])
    return await _accept(request, inbound)


def _upload_limit(request: web.Request) -> int:
    return int(runtime(request).settings.storage.max_document_mb * 1024 * 1024)


@guarded
async def upload(request: web.Request) -> web.Response:
    """A photo or PDF from the candidate pane (multipart: `user`, `file`, `client_id`?)."""
    limit = _upload_limit(request)
    if not request.content_type.startswith("multipart/form-data"):
        return json_error(415, "send multipart/form-data with a 'file' field")
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return _too_large(limit)
    fields: dict[str, str] = {}
    data, filename = None, ""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                return json_error(400, "nested multipart is not supported")
            if part.name == "file" and data is None:
                filename = clean_filename(part.filename)
                data = await read_part(part, limit)
            elif part.name in ("user", "client_id") and part.name not in fields:
                fields[part.name] = (await read_part(part, 256)).decode("utf-8", "replace")
            else:
                return json_error(400, f"unexpected form field {str(part.name)[:40]!r}")
    except web.HTTPRequestEntityTooLarge:
        return _too_large(limit)
    except (ValueError, AssertionError) as exc:  # what aiohttp raises on a broken body
        return json_error(400, f"malformed multipart body ({type(exc).__name__})")
    user, client_id = fields.get("user", ""), fields.get("client_id") or new_client_id()
    try:
        check_uploader(user, client_id)
    except BadInput as exc:
        return _field_errors([{"field": exc.field, "message": str(exc)}])
    if not data:
        return json_error(400, "no file (or an empty one) in the 'file' field")
    kind = UPLOAD_KINDS.get(filetype.guess_mime(data) or "")
    if kind is None:
        return json_error(415, "only photos (JPEG, PNG, HEIC) and PDF files", code="wrong_type")

    rt = runtime(request)
    key = await asyncio.to_thread(store_upload, rt.settings.data_dir, data)
    await asyncio.to_thread(prune_uploads, rt.settings.data_dir)
    media = MediaRef(kind=kind, key=key, filename=filename, size=len(data))
    return await _accept(request, upload_inbound(user, client_id, media, rt.clock()))


# -- the demo ---------------------------------------------------------------------------------


@guarded
async def demo(request: web.Request) -> web.Response:
    from bot.playground.demo import start_demo

    rt = runtime(request)
    if rt.settings.enabled_platforms:  # the demo's people and alerts would reach real HR
        return json_error(
            409,
            "the demo writes made-up candidates and alerts: it is off while a real "
            "platform is enabled (use a separate data dir and database to try it)",
        )
    return web.json_response(await start_demo(runtime(request)), status=201)


# -- wiring -----------------------------------------------------------------------------------


async def _stop_streams(app: web.Application) -> None:
    """Server shutdown: end the event streams so that in-flight requests can finish."""
    app[STOPPING].set()
    channel = app[RUNTIME_KEY].channels.get("web")
    if isinstance(channel, WebChannel):
        channel.wake()


def setup(app: web.Application) -> None:
    if not playground_enabled(app[RUNTIME_KEY].settings):
        return  # no routes at all: /playground answers 404
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    app.router.add_get("/playground", page)
    app.router.add_get("/playground/", page)
    app.router.add_get("/playground/{name}", static_file)
    app.router.add_get("/playground/api/config", config)
    app.router.add_get("/playground/api/history", history)
    app.router.add_get("/playground/api/events", events)
    app.router.add_get("/playground/api/candidates", candidates)
    app.router.add_get("/playground/api/images/{name}", image)
    app.router.add_post("/playground/api/send", send)
    app.router.add_post("/playground/api/upload", upload)
    app.router.add_post("/playground/api/demo", demo)
