"""PIPL erasure, shared by DELETE /api/v1/candidates/{id} and the HR command /forget.

What goes: everything that identifies the person or repeats their words — name, phone,
e-mail, platform ids, expectations, the ATS id, documents (files and rows), the text of
messages to and from them, decline reasons in their words, interview and HR notes,
alert details, conversation state, HR's corrections of their replies (rows deleted),
the candidate page's links (tokens deleted) and the files sent through it.
What stays: anonymous facts the statistics count — the rows of applications, interviews
(score, dates), offers (status, salary, timestamps, reason category) and timeline kinds.

Call inside a transaction. Files are deleted last, after every row, so a database error
leaves the files in place with the rows that point at them.
"""

from __future__ import annotations

import json
from typing import Any

from tortoise.expressions import Q

from bot.channels.addresses import ADDRESS_FIELDS, addresses_of
from bot.channels.base import Outgoing, PermanentError
from bot.channels.web.channel import PLAYGROUND_HR_ID, upload_path
from bot.services import candidate_links
from bot.services.fx import Fx
from bot.services.reach import ROUTES
from bot.storage.models import (
    Alert,
    Application,
    Candidate,
    Conversation,
    Correction,
    Document,
    InboundEvent,
    Interview,
    Note,
    Offer,
    Outbox,
    Reason,
    TimelineEvent,
    Timer,
)

ERASED_NAME = "已删除#{id}"
ERASED_ADDRESS = "erased"
_BLANK_MESSAGE = Outgoing(text="").model_dump(mode="json")
_SCAN_BATCH = 500


def addresses(candidate: Candidate) -> dict[str, set[str]]:
    """Every platform address the person wrote from or was written to, by platform."""
    out: dict[str, set[str]] = {}
    for platform in ADDRESS_FIELDS:
        found = set(addresses_of(candidate, platform))
        if found:
            out[platform] = found
    return out


def _addressed_to(where: dict[str, set[str]], platform_field: str, user_field: str) -> Q:
    q = Q(pk__in=[])  # matches nothing when the person has no platform identity
    for platform, users in where.items():
        q |= Q(**{platform_field: platform, f"{user_field}__in": list(users)})
    return q


async def _blank_inbound(where: dict[str, set[str]], uploads: list[str]) -> int:
    """Inbound payloads carry the sender and the text. The rows stay (they de-duplicate
    platform retries) with the payload replaced; a pending one is never processed. The
    keys of files they sent to the web channel (the candidate page, the playground) are
    added to `uploads`, to be deleted once the rows are."""
    if not where:
        return 0
    blanked, last_id = 0, 0
    while True:
        batch = await (
            InboundEvent.filter(id__gt=last_id, platform__in=list(where))
            .order_by("id")
            .limit(_SCAN_BATCH)
            .values("id", "platform", "payload")
        )
        if not batch:
            return blanked
        last_id = batch[-1]["id"]
        ids = [
            row["id"]
            for row in batch
            if isinstance(row["payload"], dict)
            and row["payload"].get("sender_id") in where[row["platform"]]
        ]
        if ids:
            uploads.extend(_upload_keys(row for row in batch if row["id"] in set(ids)))
            await InboundEvent.filter(id__in=ids, status="pending").update(status="done")
            blanked += await InboundEvent.filter(id__in=ids).update(
                payload={"erased": True}, last_error=None
            )


def _upload_keys(rows) -> list[str]:
    """The web channel's upload keys in these inbound rows' media."""
    keys = []
    for row in rows:
        if row["platform"] != "web":
            continue
        for media in row["payload"].get("media") or ():
            if isinstance(media, dict) and isinstance(media.get("key"), str):
                keys.append(media["key"])
    return keys


def _delete_uploads(data_dir, keys: list[str]) -> int:
    removed = 0
    for key in keys:
        try:
            upload_path(data_dir, key).unlink()
            removed += 1
        except (FileNotFoundError, PermanentError):  # pruned already, or not our key
            continue
    return removed


def identifiers(candidate: Candidate) -> list[str]:
    """What names the person in free text: name, phone, e-mail, the ATS id."""
    values = (
        candidate.name,
        candidate.phone,
        candidate.phone_norm,
        candidate.email,
        candidate.external_id,
    )
    # A one-character "name" would match half the database.
    return sorted({v.strip() for v in values if v and len(v.strip()) >= 2})


def _hr_side(row: dict[str, Any], admins: set[str]) -> bool:
    """An inbound typed by HR: in a group chat, or by an admin (a private command)."""
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    sender = f"{row['platform']}:{payload.get('sender_id')}"
    return (
        payload.get("chat_type") == "group"
        or sender in admins
        or sender == f"web:{PLAYGROUND_HR_ID}"
    )


async def _blank_mentions(fx: Fx, names: list[str]) -> tuple[int, int]:
    """HR's side names the person too: commands typed to the bot (`/history 张三`,
    `/forget 张三`) and the bot's answers, which quote their words. Those rows have no
    candidate id, so they are found by what they say; rows of other candidates (who may
    share a phone number) are left alone. Returns (inbound, outbox) counts."""
    if not names:
        return 0, 0
    admins = set(fx.settings.hr.admins)
    scans = (
        (InboundEvent.all(), {"erased": True}, lambda row: _hr_side(row, admins)),
        (Outbox.filter(candidate_id__isnull=True), _BLANK_MESSAGE, lambda row: True),
    )
    counts = []
    for query, blank, ours in scans:
        erased, last_id = 0, 0
        while True:
            batch = await (
                query.filter(id__gt=last_id)
                .order_by("id")
                .limit(_SCAN_BATCH)
                .values("id", "platform", "payload")
            )
            if not batch:
                break
            last_id = batch[-1]["id"]
            ids = [
                row["id"]
                for row in batch
                if row["payload"] != blank
                and ours(row)
                and any(n in json.dumps(row["payload"], ensure_ascii=False) for n in names)
            ]
            if ids:
                model = query.model
                if model is InboundEvent:  # a pending one is never processed
                    await InboundEvent.filter(id__in=ids, status="pending").update(status="done")
                erased += await model.filter(id__in=ids).update(payload=blank)
        counts.append(erased)
    return counts[0], counts[1]


async def erase_candidate(fx: Fx, candidate: Candidate) -> dict[str, Any]:
    """Erase the person's data; returns counts of what was erased (no personal data)."""
    await fx.write_records()  # events this turn recorded are erased with the rest
    cid = candidate.id
    where = addresses(candidate)
    offer_ids = await Offer.filter(candidate_id=cid).values_list("id", flat=True)
    application_ids = await Application.filter(candidate_id=cid).values_list("id", flat=True)
    actors = {f"{platform}:{user}" for platform, users in where.items() for user in users}

    messages_q = Q(candidate_id=cid) | _addressed_to(where, "platform", "recipient_id")
    await Outbox.filter(messages_q, status__in=("pending", "sending")).update(
        status="cancelled", last_error="candidate erased"
    )
    uploads: list[str] = []
    counts: dict[str, Any] = {
        "candidate_id": cid,
        "messages": await Outbox.filter(messages_q).update(payload=_BLANK_MESSAGE),
        # SMS and e-mail rows are addressed to the phone number / e-mail address itself.
        "outside_chat": await Outbox.filter(candidate_id=cid, platform__in=ROUTES).update(
            recipient_id=ERASED_ADDRESS, last_error=None
        ),
        "inbound_events": await _blank_inbound(where, uploads),
        "conversations": await Conversation.filter(
            Q(candidate_id=cid) | _addressed_to(where, "platform", "user_id")
        ).delete(),
        "documents": await Document.filter(candidate_id=cid).delete(),
        "notes": await Note.filter(candidate_id=cid).update(text=""),
        "corrections": await Correction.filter(candidate_id=cid).delete(),
        "interview_notes": await Interview.filter(
            application_id__in=list(application_ids), notes__isnull=False
        ).update(notes=None),
        "reasons": await Reason.filter(offer_id__in=list(offer_ids)).update(text=None),
        "alerts": await Alert.filter(candidate_id=cid).update(data={}, resolution_note=None),
        "timers_cancelled": await Timer.filter(
            Q(candidate_id=cid) | Q(offer_id__in=list(offer_ids)), status="pending"
        ).update(status="cancelled"),
        "timeline_events": await TimelineEvent.filter(candidate_id=cid).update(data={}),
    }
    counts["mentions"] = await _blank_mentions(fx, identifiers(candidate))
    if actors:
        await TimelineEvent.filter(candidate_id=cid, actor__in=list(actors)).update(
            actor="candidate"
        )
    await Timer.filter(Q(candidate_id=cid) | Q(offer_id__in=list(offer_ids))).update(data={})
    # Invite codes would let someone bind to the erased record; reasons in their words go.
    await Offer.filter(candidate_id=cid).update(
        invite_code=None, invite_url=None, reason_text=None, data={}
    )
    await Candidate.filter(id=cid).update(
        name=ERASED_NAME.format(id=cid),
        external_id=None,
        phone=None,
        phone_norm=None,
        email=None,
        wecom_user_id=None,
        wecom_external_userid=None,
        feishu_open_id=None,
        web_id=None,
        expectations=None,
        language=None,
        erased_at=fx.now(),
    )
    await candidate_links.revoke_all(cid)  # the page links, in SMS / e-mail too, stop working
    await fx.record(cid, "candidate_erased", {"by": fx.actor})
    counts["files"] = fx.rt.documents.delete_candidate(cid) if fx.rt.documents else 0
    counts["uploads"] = _delete_uploads(fx.settings.data_dir, uploads)
    fx.erased = True  # fx.flush() scrubs the database files once this commits
    await candidate.refresh_from_db()
    return counts
