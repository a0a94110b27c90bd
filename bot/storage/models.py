"""Tortoise models for the whole domain.

Conventions: every timestamp is timezone-aware UTC; `data` JSON columns hold details that
are shown but never queried on. Rows that matter for the guarantees (inbound events,
outbox, timers) carry a status plus `locked_until`, so work held by a dead process is
picked up again by the sweeper.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TimestampedModel(Model):
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class Requisition(TimestampedModel):
    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=128, unique=True, null=True)
    title = fields.CharField(max_length=200)
    department = fields.CharField(max_length=200, null=True)
    headcount = fields.IntField(default=1)
    urgency = fields.CharField(max_length=16, default="normal")  # low / normal / high
    status = fields.CharField(max_length=16, default="open")  # open/paused/filled/closed
    remote_days_per_week = fields.IntField(null=True)
    overtime = fields.CharField(max_length=16, null=True)  # none / occasional / frequent
    location = fields.CharField(max_length=200, null=True)
    documents = fields.JSONField(null=True)  # checklist item keys; null → config default
    onboarding_guide = fields.TextField(null=True)

    class Meta:
        table = "requisition"


class Candidate(TimestampedModel):
    id = fields.IntField(primary_key=True)
    external_id = fields.CharField(max_length=128, unique=True, null=True)
    name = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=64, null=True)
    # Digits only, country code stripped: what lookups and re-applicant matching use.
    phone_norm = fields.CharField(max_length=32, null=True, db_index=True)
    email = fields.CharField(max_length=254, null=True, db_index=True)
    wecom_user_id = fields.CharField(max_length=128, null=True, db_index=True)
    wecom_external_userid = fields.CharField(max_length=128, null=True, db_index=True)
    feishu_open_id = fields.CharField(max_length=128, null=True, db_index=True)
    web_id = fields.CharField(max_length=128, null=True, db_index=True)
    expectations = fields.JSONField(null=True)
    language = fields.CharField(max_length=8, null=True)
    erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "candidate"


class Application(TimestampedModel):
    id = fields.IntField(primary_key=True)
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="applications", on_delete=fields.CASCADE
    )
    requisition: fields.ForeignKeyRelation[Requisition] = fields.ForeignKeyField(
        "models.Requisition", related_name="applications", on_delete=fields.CASCADE
    )
    # The ATS's own application id (optional): upserts, and CSV rows of interviews and
    # offers refer to applications by it.
    external_id = fields.CharField(max_length=128, unique=True, null=True)
    applied_at = fields.DatetimeField(db_index=True)
    source = fields.CharField(max_length=100, null=True)
    # Set when this application came from someone whose earlier offer was lost (§2.3).
    reapplication_of = fields.IntField(null=True)

    class Meta:
        table = "application"


class Interview(TimestampedModel):
    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="interviews", on_delete=fields.CASCADE
    )
    round = fields.IntField()
    interviewer = fields.CharField(max_length=200, null=True)
    score = fields.IntField(null=True)
    notes = fields.TextField(null=True)
    held_at = fields.DatetimeField()
    feedback_sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "interview"
        unique_together = (("application", "round"),)


class Offer(TimestampedModel):
    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="offers", on_delete=fields.CASCADE
    )
    # Indexed: every candidate message looks up the candidate's offers (bench/RESULTS.md).
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="offers", on_delete=fields.CASCADE, db_index=True
    )
    requisition: fields.ForeignKeyRelation[Requisition] = fields.ForeignKeyField(
        "models.Requisition", related_name="offers", on_delete=fields.CASCADE
    )
    salary_monthly = fields.DecimalField(max_digits=12, decimal_places=2)
    currency = fields.CharField(max_length=8, default="CNY")
    start_date = fields.DateField()
    expires_at = fields.DatetimeField(null=True)
    channel = fields.CharField(max_length=16, null=True)  # wecom / feishu / web
    contract_url = fields.CharField(max_length=1000, null=True)
    # sent / accepted / declined / expired / withdrawn / reneged / onboarded (docs/api.md)
    status = fields.CharField(max_length=16, default="sent", db_index=True)
    # Conversation sub-state inside a status (flows/offer_state.py has the table).
    stage = fields.CharField(max_length=32, default="new")
    invite_code = fields.CharField(max_length=16, null=True, unique=True)
    invite_url = fields.CharField(max_length=1000, null=True)
    delivered_at = fields.DatetimeField(null=True)  # offer message actually delivered
    last_reply_at = fields.DatetimeField(null=True)
    accepted_at = fields.DatetimeField(null=True)
    declined_at = fields.DatetimeField(null=True)
    expired_at = fields.DatetimeField(null=True)
    withdrawn_at = fields.DatetimeField(null=True)
    reneged_at = fields.DatetimeField(null=True)
    onboarded_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True, db_index=True)
    reminders_sent = fields.IntField(default=0)
    reason_category = fields.CharField(max_length=32, null=True)
    reason_text = fields.TextField(null=True)
    data = fields.JSONField(default=dict)

    class Meta:
        table = "offer"


class Reason(Model):
    """A decline or renege reason, verbatim and categorised."""

    id = fields.IntField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="reasons", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)  # decline / renege
    category = fields.CharField(max_length=32)
    text = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reason"


class TimelineEvent(Model):
    """Everything that happened to a candidate, in order: the history HR reads."""

    id = fields.BigIntField(primary_key=True)
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="timeline", on_delete=fields.CASCADE
    )
    offer_id = fields.IntField(null=True, db_index=True)
    application_id = fields.IntField(null=True)
    kind = fields.CharField(max_length=48)
    actor = fields.CharField(max_length=160, default="system")
    data = fields.JSONField(default=dict)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "timeline_event"


class Conversation(Model):
    """Who a platform user is to us, and where their conversation stands."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    user_id = fields.CharField(max_length=128)
    candidate: fields.ForeignKeyNullableRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="conversations", null=True, on_delete=fields.CASCADE
    )
    state = fields.CharField(max_length=32, default="idle")
    context = fields.JSONField(default=dict)
    last_inbound_at = fields.DatetimeField(null=True)
    # Messages sent since the user's last message (channels with a session budget: WeCom kf).
    sent_since_inbound = fields.IntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation"
        unique_together = (("platform", "user_id"),)


class InboundEvent(Model):
    """A verified callback, stored before it is acknowledged."""

    id = fields.BigIntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    # The de-duplication key the channel chose (message id where there is one).
    event_id = fields.CharField(max_length=191)
    kind = fields.CharField(max_length=16, default="text")
    payload = fields.JSONField()
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbound_event"
        unique_together = (("platform", "event_id"),)


class Outbox(Model):
    """A message the bot decided to send, delivered by the worker exactly once."""

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=191, unique=True)
    platform = fields.CharField(max_length=16)
    recipient_kind = fields.CharField(max_length=16)  # user / hr_group
    recipient_id = fields.CharField(max_length=191)
    candidate_id = fields.IntField(null=True, db_index=True)
    offer_id = fields.IntField(null=True, db_index=True)
    alert_id = fields.IntField(null=True)
    payload = fields.JSONField()
    # pending / sending / sent / failed (permanent) / held (window closed, HR asked)
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    not_before = fields.DatetimeField(db_index=True)
    locked_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    platform_message_id = fields.CharField(max_length=191, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox"


class Timer(Model):
    """Time as data: a row per thing that must happen at `due_at`."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=191, unique=True)  # e.g. offer:12:remind
    kind = fields.CharField(max_length=32)
    offer_id = fields.IntField(null=True, db_index=True)
    candidate_id = fields.IntField(null=True)
    due_at = fields.DatetimeField()
    # pending / done / cancelled
    status = fields.CharField(max_length=16, default="pending")
    locked_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    data = fields.JSONField(default=dict)
    fired_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "timer"
        indexes = (("status", "due_at"),)


class Document(Model):
    id = fields.IntField(primary_key=True)
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="documents", on_delete=fields.CASCADE
    )
    offer_id = fields.IntField(null=True, db_index=True)
    item = fields.CharField(max_length=48)
    sha256 = fields.CharField(max_length=64, db_index=True)
    storage_key = fields.CharField(max_length=500)
    size = fields.IntField()
    mime = fields.CharField(max_length=100)
    filename = fields.CharField(max_length=255, null=True)
    # current / replaced
    status = fields.CharField(max_length=16, default="current")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "document"


class DocumentChecklist(Model):
    """Where an accepted offer's document collection stands (bot/flows/documents.py).

    `items` is the checklist as the candidate was given it (a snapshot: later edits of the
    requisition do not move the goalposts); which items are done is read from `Document`."""

    id = fields.IntField(primary_key=True)
    offer: fields.OneToOneRelation[Offer] = fields.OneToOneField(
        "models.Offer", related_name="document_checklist", on_delete=fields.CASCADE
    )
    items = fields.JSONField()  # item keys, in order
    skipped = fields.JSONField(default=list)  # item keys the candidate will send later
    asking = fields.CharField(max_length=48, null=True)  # the item the next file is for
    completed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "document_checklist"


class Alert(TimestampedModel):
    """An HR alert: shown in the HR group with its integer id, claimed and resolved."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    candidate_id = fields.IntField(null=True, db_index=True)
    offer_id = fields.IntField(null=True, db_index=True)
    status = fields.CharField(max_length=16, default="open", db_index=True)
    claimed_by = fields.CharField(max_length=160, null=True)
    claimed_at = fields.DatetimeField(null=True)
    resolved_by = fields.CharField(max_length=160, null=True)
    resolved_at = fields.DatetimeField(null=True)
    resolution_note = fields.TextField(null=True)
    updates = fields.IntField(default=0)
    data = fields.JSONField(default=dict)

    class Meta:
        table = "alert"


class Note(Model):
    id = fields.IntField(primary_key=True)
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="notes", on_delete=fields.CASCADE
    )
    author = fields.CharField(max_length=160)
    text = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "note"


class KeyValue(Model):
    """Small durable state: kf sync cursors, pending /forget confirmations, ..."""

    key = fields.CharField(max_length=191, primary_key=True)
    value = fields.JSONField()
    expires_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "key_value"


class Correction(Model):
    """HR's label for a reply the bot read wrong: a training example, erased with the person.

    `offerbot train-intents` learns from these (see docs/understanding.md)."""

    id = fields.IntField(primary_key=True)
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="corrections", on_delete=fields.CASCADE
    )
    alert_id = fields.IntField(null=True, db_index=True)
    text = fields.TextField()  # the reply as the alert kept it (ID numbers out, phones masked)
    bot_intent = fields.CharField(max_length=16)
    bot_concerns = fields.JSONField(default=list)
    hr_intent = fields.CharField(max_length=16)
    hr_concerns = fields.JSONField(default=list)
    model = fields.CharField(max_length=64, default="")  # what read it
    by = fields.CharField(max_length=160)  # `platform:user id`, as [hr].admins names people
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "correction"


class CandidateToken(Model):
    """A candidate page token, stored as its SHA-256 only (docs/candidate-page.md)."""

    id = fields.IntField(primary_key=True)
    candidate: fields.ForeignKeyRelation[Candidate] = fields.ForeignKeyField(
        "models.Candidate", related_name="page_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "candidate_token"
