"""The ATS REST API under /api/v1 (see docs/api.md).

One route table, `ROUTES`, both registers the handlers and generates the OpenAPI
document from the pydantic models in `bot.api_schemas`, so the documentation cannot drift
from the code. Every answer is JSON: the object itself with its `id` at the top level,
`{"error": "..."}` for a refusal, `{"errors": [{"field", "message"}]}` for invalid input.

The handlers parse, authorise and answer; `bot.services.ats` does the storage work.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from tortoise.exceptions import IntegrityError

from bot.analytics import compute_stats
from bot.api_schemas import (
    AlertOut,
    ApplicationIn,
    ApplicationOut,
    CandidateDetail,
    CandidateIn,
    CandidateOut,
    DocumentOut,
    InterviewIn,
    InterviewOut,
    MessageOut,
    NoteOut,
    OfferDetail,
    OfferIn,
    OfferOut,
    ReasonOut,
    RequisitionIn,
    RequisitionOut,
    StatsOut,
    StatsQuery,
    TimelineOut,
    field_errors,
    validation_context,
)
from bot.documents.checklist import checklist_state
from bot.handlers import api_openapi
from bot.handlers.common import read_body, runtime, webhook_limit
from bot.services.erase import erase_candidate
from bot.storage.models import Candidate, Document, Offer, Outbox
from bot.usecases import ats

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
_MAX_ID = 2_147_483_647
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")


class Reject(Exception):
    """Stop handling and answer with this response."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def answer(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def error(status: int, message: str, **extra: Any) -> web.Response:
    return answer({"error": message, **extra}, status)


# -- request parsing ----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


async def parse_body(request: web.Request, model: type[BaseModel]) -> Any:
    """A JSON object body validated by `model`, or a Reject with 400/413/415/422."""
    if request.content_type != "application/json":
        raise Reject(error(415, "send the body as application/json"))
    limit = webhook_limit(request)
    try:
        raw = await read_body(request, limit)
    except web.HTTPRequestEntityTooLarge:
        raise Reject(error(413, f"the body is larger than {limit // 1024} KB")) from None
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise Reject(error(400, "the body is not valid JSON")) from None
    if not isinstance(data, dict):
        raise Reject(error(400, "the body must be a JSON object"))
    # Strict: JSON types as the OpenAPI document gives them ("7" is not an integer, false
    # is not 0); dates, times and decimals still come as strings, as JSON has no such type.
    return _validated(request, lambda ctx: model.model_validate_json(raw, strict=True, context=ctx))


def validate(request: web.Request, model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Lax: query strings are all text."""
    return _validated(request, lambda ctx: model.model_validate(data, context=ctx))


def _validated(request: web.Request, run: Callable[[dict[str, Any]], Any]) -> Any:
    try:
        return run(validation_context(runtime(request).settings))
    except ValidationError as exc:
        raise Reject(answer({"errors": field_errors(exc)}, 422)) from None


def path_id(request: web.Request, name: str) -> int:
    """An integer id from the path; anything else is an id we do not know (404)."""
    raw = request.match_info[name]
    # ASCII only: "²" and "٣" pass isdigit(); the length check keeps int() cheap.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 0 < int(raw) <= _MAX_ID:
        raise Reject(error(404, f"no such {name.removesuffix('_id')}"))
    return int(raw)


async def _offer(request: web.Request) -> Offer:
    offer = await Offer.get_or_none(id=path_id(request, "offer_id"))
    if offer is None:
        raise Reject(error(404, "no such offer"))
    return offer


async def _candidate(request: web.Request) -> Candidate:
    candidate = await Candidate.get_or_none(id=path_id(request, "candidate_id"))
    if candidate is None:
        raise Reject(error(404, "no such candidate"))
    return candidate


def _out(request: web.Request, model: type[BaseModel], row: Any, **values: Any) -> dict:
    """`row` (a database row or a dict) plus `values`, shaped by an answer model."""
    if values:
        if not isinstance(row, dict):
            row = {name: getattr(row, name, None) for name in model.model_fields}
        row = {**row, **values}
    tz = runtime(request).settings.company.tz
    return model.model_validate(row).model_dump(mode="json", context={"tz": tz})


def _fx(request: web.Request):
    return runtime(request).fx(actor="api")


# -- creates (upserts) --------------------------------------------------------------------


async def _upsert(request, body: type[BaseModel], operation, out: type[BaseModel]):
    data = await parse_body(request, body)
    row, created = await ats.committed(_fx(request), operation, data)
    return answer(_out(request, out, row), 201 if created else 200)


async def post_requisition(request: web.Request) -> web.Response:
    return await _upsert(request, RequisitionIn, ats.upsert_requisition, RequisitionOut)


async def post_candidate(request: web.Request) -> web.Response:
    return await _upsert(request, CandidateIn, ats.upsert_candidate, CandidateOut)


async def post_application(request: web.Request) -> web.Response:
    return await _upsert(request, ApplicationIn, ats.upsert_application, ApplicationOut)


async def post_interview(request: web.Request) -> web.Response:
    return await _upsert(request, InterviewIn, ats.upsert_interview, InterviewOut)


async def post_offer(request: web.Request) -> web.Response:
    data = await parse_body(request, OfferIn)
    offer, extra = await ats.committed(_fx(request), ats.create_offer, data)
    await offer.refresh_from_db()
    extra = {k: v for k, v in (extra or {}).items() if v is not None}
    return answer({**_out(request, OfferOut, offer), **extra}, 201)


# -- offers -------------------------------------------------------------------------------


async def _checklist(request: web.Request, offer: Offer, has_documents: bool):
    """The onboarding checklist (item, name, status, document id) once documents matter:
    after acceptance, or as soon as any was sent."""
    if offer.status not in ("accepted", "onboarded") and not has_documents:
        return None
    settings = runtime(request).settings
    return await checklist_state(offer, settings=settings, language=settings.company.language)


async def get_offer(request: web.Request) -> web.Response:
    offer = await _offer(request)
    rows = await ats.offer_history(offer)
    documents = [
        _out(
            request,
            DocumentOut,
            doc,
            download_url=f"{PREFIX}/offers/{offer.id}/documents/{doc.id}",
        )
        for doc in rows["documents"]
    ]
    return answer(
        _out(
            request,
            OfferDetail,
            {
                **_out(request, OfferOut, offer),
                "reasons": [_out(request, ReasonOut, r) for r in rows["reasons"]],
                "documents": documents,
                "checklist": await _checklist(request, offer, bool(documents)),
                "timeline": [_out(request, TimelineOut, t) for t in rows["timeline"]],
            },
        )
    )


async def get_offer_document(request: web.Request) -> web.Response:
    offer = await _offer(request)
    doc = await Document.get_or_none(id=path_id(request, "document_id"), offer_id=offer.id)
    if doc is None:
        raise Reject(error(404, "no such document for this offer"))
    store = runtime(request).documents
    try:
        data = await asyncio.to_thread(store.get, doc.storage_key)
    except (OSError, ValueError):
        raise Reject(error(404, "the document's file is no longer stored")) from None
    mime = doc.mime if _MIME.match(doc.mime or "") else "application/octet-stream"
    suffix = doc.storage_key.rsplit(".", 1)[-1] if "." in doc.storage_key else "bin"
    return web.Response(
        body=data,
        content_type=mime,
        headers={
            "Content-Disposition": f'attachment; filename="{doc.item}-{doc.id}.{suffix}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


async def _change_offer(request: web.Request, operation) -> web.Response:
    offer = await _offer(request)
    changed = await ats.committed(_fx(request), operation, offer)
    await changed.refresh_from_db()
    return answer(_out(request, OfferOut, changed))


async def withdraw_offer(request: web.Request) -> web.Response:
    return await _change_offer(request, ats.withdraw_offer)


async def onboard_offer(request: web.Request) -> web.Response:
    return await _change_offer(request, ats.mark_onboarded)


# -- candidates ---------------------------------------------------------------------------


def _message(request: web.Request, row: Outbox) -> dict[str, Any]:
    payload = row.payload if isinstance(row.payload, dict) else {}
    return _out(
        request,
        MessageOut,
        row,
        kind=payload.get("kind", "text"),
        title=payload.get("title", ""),
        text=payload.get("text", ""),
    )


async def get_candidate(request: web.Request) -> web.Response:
    candidate = await _candidate(request)
    rows = await ats.candidate_history(candidate)
    return answer(
        _out(
            request,
            CandidateDetail,
            {
                **_out(request, CandidateOut, candidate),
                "applications": [_out(request, ApplicationOut, a) for a in rows["applications"]],
                "interviews": [_out(request, InterviewOut, i) for i in rows["interviews"]],
                "offers": [_out(request, OfferOut, o) for o in rows["offers"]],
                "messages": [_message(request, m) for m in rows["messages"]],
                "alerts": [_out(request, AlertOut, a) for a in rows["alerts"]],
                "notes": [_out(request, NoteOut, n) for n in rows["notes"]],
                "timeline": [_out(request, TimelineOut, t) for t in rows["timeline"]],
            },
        )
    )


async def delete_candidate(request: web.Request) -> web.Response:
    candidate = await _candidate(request)
    counts = await ats.committed(_fx(request), erase_candidate, candidate)
    log.info("candidate %s erased through the API: %s", candidate.id, counts)
    return web.Response(status=204)


# -- stats and the document ---------------------------------------------------------------


async def get_stats(request: web.Request) -> web.Response:
    query = validate(request, StatsQuery, dict(request.query))
    return answer(await compute_stats(query.days))


async def get_openapi(request: web.Request) -> web.Response:
    return answer(openapi_document())


# -- the route table ----------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below PREFIX; {name} segments are integer ids
    handler: Handler
    summary: str
    statuses: tuple[int, ...] = (200,)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    conflict: bool = False  # may answer 409
    public: bool = False  # no token needed

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", PREFIX + self.path) + "$")


ROUTES: tuple[Route, ...] = (
    Route("POST", "/requisitions", post_requisition, "Create or update a requisition",
          (200, 201), body=RequisitionIn, answer=RequisitionOut),
    Route("POST", "/candidates", post_candidate, "Create or update a candidate",
          (200, 201), body=CandidateIn, answer=CandidateOut),
    Route("POST", "/applications", post_application,
          "Create or update an application (a new one may alert HR about a re-applicant)",
          (200, 201), body=ApplicationIn, answer=ApplicationOut),
    Route("POST", "/interviews", post_interview,
          "Create or update an interview round (one per application and round)",
          (200, 201), body=InterviewIn, answer=InterviewOut),
    Route("POST", "/offers", post_offer,
          "Create an offer and send it to the candidate (or answer invite_url/invite_code)",
          (201,), body=OfferIn, answer=OfferOut, conflict=True),
    Route("GET", "/offers/{offer_id}", get_offer,
          "An offer: status, timestamps, reminders, reasons, documents, timeline",
          answer=OfferDetail),
    Route("GET", "/offers/{offer_id}/documents/{document_id}", get_offer_document,
          "Download one onboarding document (the file's bytes)"),
    Route("POST", "/offers/{offer_id}/withdraw", withdraw_offer,
          "The company withdraws an open offer", answer=OfferOut, conflict=True),
    Route("POST", "/offers/{offer_id}/onboard", onboard_offer,
          "HR marks an accepted offer onboarded", answer=OfferOut, conflict=True),
    Route("GET", "/candidates/{candidate_id}", get_candidate,
          "A candidate's profile (personal data unmasked) and whole history",
          answer=CandidateDetail),
    Route("DELETE", "/candidates/{candidate_id}", delete_candidate,
          "Erase the candidate's personal data and documents (PIPL); statistics stay",
          (204,)),
    Route("GET", "/stats", get_stats, "Offer outcome statistics over the last N days",
          query=StatsQuery, answer=StatsOut),
    Route("GET", "/openapi.json", get_openapi, "This document (no token needed)",
          public=True),
)  # fmt: skip


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _endpoint(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        token = runtime(request).settings.api.token
        if not token:
            return error(404, "the ATS API is disabled (api.token is empty)")
        if not route.public and not _authorized(request, token):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="offerbot"'},
            )
        try:
            return await route.handler(request)
        except Reject as exc:
            return exc.response
        except ats.NotFound as exc:
            return error(404, str(exc), field=exc.field)
        except ats.Conflict as exc:
            return error(409, str(exc))
        except IntegrityError:
            # Two writers raced for the same external_id: the loser may simply retry.
            return error(409, "a concurrent request changed the same record; retry")

    handle.__name__ = route.handler.__name__
    return handle


async def _unrouted(request: web.Request) -> web.Response:
    """JSON answers for paths and methods the API does not have."""
    if not runtime(request).settings.api.token:
        return error(404, "the ATS API is disabled (api.token is empty)")
    allowed = sorted({r.method for r in ROUTES if r.pattern.match(request.path)})
    if allowed:
        return web.json_response(
            {"error": f"method {request.method} not allowed here"},
            status=405,
            headers={"Allow": ", ".join(allowed)},
        )
    return error(404, "no such API route; see /api/v1/openapi.json")


def setup(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, PREFIX + route.path, _endpoint(route))
    app.router.add_route("*", PREFIX + "/{tail:.*}", _unrouted)


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for ROUTES (bot/handlers/api_openapi.py)."""
    return api_openapi.openapi_document(ROUTES, PREFIX, get_offer_document, get_openapi)
