"""What the ATS API accepts and answers (see docs/api.md), as pydantic models.

The HTTP handlers and the CSV importer validate with the same request models, and the
OpenAPI document is generated from them, so the three cannot drift apart.

Validation needs two facts from the settings, passed as pydantic context
(`validation_context(settings)`): the company time zone (a datetime without an offset is
read as company time) and the checklist keys a requisition may ask for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.api_fields import (
    Currency,
    Day,
    DaysPerWeek,
    Email,
    ExternalId,
    Id,
    Long,
    Moment,
    Money,
    Name,
    Phone,
    Short,
    Url,
)
from bot.config import DEFAULT_CHECKLIST, Settings
from bot.vocab import OFFER_STATUSES, REASON_CATEGORIES

# -- errors -------------------------------------------------------------------------------


class FieldError(ValueError):
    """A cross-field rule broken; names the field the caller should fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as `[{"field": "expectations.salary_min", "message": "..."}]`."""
    out = []
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            field, message = cause.field, str(cause)
        else:
            field = _loc(err["loc"]) or "body"
            message = _MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))
        out.append({"field": field, "message": message})
    return out


def validation_context(settings: Settings) -> dict[str, Any]:
    return {
        "tz": settings.company.tz,
        "checklist": tuple(dict.fromkeys([*DEFAULT_CHECKLIST, *settings.documents.checklist])),
    }


class Body(BaseModel):
    """Unknown fields are errors: a misspelt field must not be dropped silently."""

    model_config = ConfigDict(extra="forbid")


def _one_of_schema(id_field: str, external_field: str) -> ConfigDict:
    """The OpenAPI form of `_one_of`: exactly one of the two, and not null."""
    return ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": [f], "properties": {f: {"not": {"type": "null"}}}}
                for f in (id_field, external_field)
            ]
        },
    )


def _one_of(model: BaseModel, id_field: str, external_field: str) -> None:
    given = [f for f in (id_field, external_field) if getattr(model, f) is not None]
    if len(given) != 1:
        raise FieldError(id_field, f"give exactly one of {id_field} or {external_field}")


# -- requests -----------------------------------------------------------------------------


class RequisitionIn(Body):
    external_id: ExternalId
    title: Name
    department: Name | None = None
    headcount: int = Field(1, ge=0, le=100_000)
    urgency: Literal["low", "normal", "high"] = "normal"
    status: Literal["open", "paused", "filled", "closed"] = "open"
    remote_days_per_week: DaysPerWeek | None = None
    overtime: Literal["none", "occasional", "frequent"] | None = None
    location: Name | None = None
    documents: list[str] | None = Field(
        None, max_length=50, description="checklist item keys, in the order to ask for them"
    )
    onboarding_guide: Long(10_000) | None = None

    @field_validator("documents")
    @classmethod
    def _known_items(cls, items: list[str] | None, info: ValidationInfo):
        if items is None:
            return None
        known = (info.context or {}).get("checklist", DEFAULT_CHECKLIST)
        unknown = [i for i in items if i not in known]
        if unknown:
            raise ValueError(f"unknown checklist keys {unknown}; known: {', '.join(known)}")
        if len(set(items)) != len(items):
            raise ValueError("each checklist key at most once")
        return items


class Expectations(Body):
    salary_min: Money(ge=0) | None = None
    remote_days_per_week: DaysPerWeek | None = None
    location: Name | None = None
    notes: Long(2_000) | None = None


class CandidateIn(Body):
    external_id: ExternalId | None = None
    name: Name
    phone: Phone | None = None
    email: Email | None = None
    wecom_user_id: ExternalId | None = None
    feishu_open_id: ExternalId | None = None
    expectations: Expectations | None = None


class ApplicationIn(Body):
    model_config = _one_of_schema("candidate_id", "candidate_external_id")
    external_id: ExternalId | None = Field(None, description="the ATS's application id")
    candidate_id: Id | None = None
    candidate_external_id: ExternalId | None = None
    requisition_external_id: ExternalId
    applied_at: Moment | None = None
    source: Short(100) | None = None

    @model_validator(mode="after")
    def _candidate(self):
        _one_of(self, "candidate_id", "candidate_external_id")
        return self


class InterviewIn(Body):
    model_config = _one_of_schema("application_id", "application_external_id")
    application_id: Id | None = None
    application_external_id: ExternalId | None = None
    round: int = Field(ge=1, le=50)
    interviewer: Name | None = None
    score: int | None = Field(None, ge=1, le=5)
    notes: Long(20_000) | None = None
    held_at: Moment
    feedback_sent_at: Moment | None = None

    @model_validator(mode="after")
    def _application(self):
        _one_of(self, "application_id", "application_external_id")
        return self


class OfferIn(Body):
    model_config = _one_of_schema("application_id", "application_external_id")
    application_id: Id | None = None
    application_external_id: ExternalId | None = None
    salary_monthly: Money(gt=0)
    currency: Currency | None = None
    start_date: Day
    expires_at: Moment | None = None
    channel: Literal["wecom", "feishu", "web"] | None = None
    contract_url: Url | None = None

    @model_validator(mode="after")
    def _application(self):
        _one_of(self, "application_id", "application_external_id")
        return self

    def offer_fields(self) -> dict[str, Any]:
        """The fields create_offer stores (the application is passed separately)."""
        return self.model_dump(
            exclude={"application_id", "application_external_id"}, exclude_none=True
        )


class OfferHistoryIn(OfferIn):
    """An offer imported as history (CSV): stored as it was, nobody is messaged."""

    status: Literal[OFFER_STATUSES] = "sent"  # type: ignore[valid-type]
    reason_category: Literal[REASON_CATEGORIES] | None = None  # type: ignore[valid-type]
    reason_text: Long(5_000) | None = None
    sent_at: Moment | None = None
    accepted_at: Moment | None = None
    declined_at: Moment | None = None
    expired_at: Moment | None = None
    withdrawn_at: Moment | None = None
    reneged_at: Moment | None = None
    onboarded_at: Moment | None = None

    def offer_fields(self) -> dict[str, Any]:
        history = set(OfferHistoryIn.model_fields) - set(OfferIn.model_fields)
        return {k: v for k, v in super().offer_fields().items() if k not in history}


class StatsQuery(Body):
    days: int = Field(30, ge=1, le=3650)


# -- answers ------------------------------------------------------------------------------


def _show_time(value: datetime, info: SerializationInfo) -> str:
    """Answers carry the company's offset (+08:00), as the ATS usually sends them."""
    tz = (info.context or {}).get("tz")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        local = value.astimezone(tz) if tz else value
    except (OverflowError, ValueError):  # year 1 or 9999 stored before the date window
        return value.isoformat()
    offset = local.utcoffset() or timedelta(0)
    if offset.total_seconds() % 60:  # before 1901 (Shanghai +08:05:43): not ISO 8601
        return value.astimezone(UTC).isoformat()
    return local.isoformat()


Stamp = Annotated[datetime, PlainSerializer(_show_time, return_type=str, when_used="json")]


class Answer(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorAnswer(BaseModel):
    error: str


class FieldErrorItem(BaseModel):
    field: str
    message: str


class ValidationErrorAnswer(BaseModel):
    errors: list[FieldErrorItem]


class RequisitionOut(Answer):
    id: int
    external_id: str | None
    title: str
    department: str | None
    headcount: int
    urgency: str
    status: str
    remote_days_per_week: int | None
    overtime: str | None
    location: str | None
    documents: list[str] | None
    onboarding_guide: str | None
    created_at: Stamp
    updated_at: Stamp


class CandidateOut(Answer):
    id: int
    external_id: str | None
    name: str
    phone: str | None
    email: str | None
    wecom_user_id: str | None
    wecom_external_userid: str | None
    feishu_open_id: str | None
    expectations: dict[str, Any] | None
    erased_at: Stamp | None
    created_at: Stamp
    updated_at: Stamp


class ApplicationOut(Answer):
    id: int
    external_id: str | None
    candidate_id: int
    requisition_id: int
    applied_at: Stamp
    source: str | None
    reapplication_of: int | None
    created_at: Stamp


class InterviewOut(Answer):
    id: int
    application_id: int
    round: int
    interviewer: str | None
    score: int | None
    notes: str | None
    held_at: Stamp
    feedback_sent_at: Stamp | None
    created_at: Stamp
    updated_at: Stamp


class OfferOut(Answer):
    id: int
    application_id: int
    candidate_id: int
    requisition_id: int
    salary_monthly: float
    currency: str
    start_date: date
    expires_at: Stamp | None
    channel: str | None
    contract_url: str | None
    status: str
    invite_code: str | None
    invite_url: str | None
    delivered_at: Stamp | None
    last_reply_at: Stamp | None
    accepted_at: Stamp | None
    declined_at: Stamp | None
    expired_at: Stamp | None
    withdrawn_at: Stamp | None
    reneged_at: Stamp | None
    onboarded_at: Stamp | None
    closed_at: Stamp | None
    reminders_sent: int
    reason_category: str | None
    reason_text: str | None
    created_at: Stamp
    updated_at: Stamp


class DocumentOut(Answer):
    id: int
    item: str
    status: str
    sha256: str
    size: int
    mime: str
    filename: str | None
    created_at: Stamp
    download_url: str


class ReasonOut(Answer):
    id: int
    kind: str
    category: str
    text: str | None
    created_at: Stamp


class TimelineOut(Answer):
    id: int
    kind: str
    actor: str
    at: Stamp
    offer_id: int | None
    application_id: int | None
    data: dict[str, Any]


class OfferDetail(OfferOut):
    reasons: list[ReasonOut]
    documents: list[DocumentOut]
    # The onboarding checklist (item, name, status, document id) once the documents flow
    # has one for this offer.
    checklist: list[dict[str, Any]] | None
    timeline: list[TimelineOut]


class MessageOut(Answer):
    id: int
    platform: str
    recipient_kind: str
    offer_id: int | None
    status: str
    kind: str
    title: str
    text: str
    created_at: Stamp
    sent_at: Stamp | None


class AlertOut(Answer):
    id: int
    kind: str
    status: str
    offer_id: int | None
    claimed_by: str | None
    claimed_at: Stamp | None
    resolved_by: str | None
    resolved_at: Stamp | None
    resolution_note: str | None
    data: dict[str, Any]
    created_at: Stamp


class NoteOut(Answer):
    id: int
    author: str
    text: str
    created_at: Stamp


class CandidateDetail(CandidateOut):
    applications: list[ApplicationOut]
    interviews: list[InterviewOut]
    offers: list[OfferOut]
    messages: list[MessageOut]
    alerts: list[AlertOut]
    notes: list[NoteOut]
    timeline: list[TimelineOut]


class LatencyBuckets(BaseModel):
    le_1d: Any = None
    d1_2: Any = None
    gt_2d: Any = None


class StatsOut(BaseModel):
    """The numbers behind /stats (computed by bot.analytics)."""

    model_config = ConfigDict(extra="allow")
    days: int
    offers_sent: int | None = None
    accepted: int | None = None
    declined: int | None = None
    expired: int | None = None
    reneged: int | None = None
    withdrawn: int | None = None
    decline_rate: float | None = None
    renege_rate: float | None = None
    dropoff_rate: float | None = None
    by_requisition: Any = None
    by_reason: Any = None
    by_feedback_latency: LatencyBuckets | None = None
    reapply_rate_90d: float | None = None
