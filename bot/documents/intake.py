"""Receiving one file for one checklist item: de-duplicate, check, store, record.

Runs inside the worker's transaction. The file is written before the row commits; if the
transaction rolls back, the retry writes the same content-addressed file again (no harm).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.channels.base import DownloadedFile
from bot.documents.checklist import ChecklistItem
from bot.documents.checks import check_document
from bot.storage.models import Document, Offer

if TYPE_CHECKING:
    from bot.services.fx import Fx

Outcome = Literal["stored", "replaced", "duplicate", "rejected"]
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass(frozen=True)
class Intake:
    outcome: Outcome
    item: str
    document: Document | None = None
    problem: str = ""  # for "rejected": a documents.problem.<code>
    details: dict[str, Any] = field(default_factory=dict)


def max_document_bytes(fx: Fx) -> int:
    return int(fx.settings.storage.max_document_mb * 1024 * 1024)


def clean_filename(name: str) -> str | None:
    """What the candidate called the file, safe to show and store (never used as a path)."""
    name = _UNSAFE_NAME.sub("_", name).strip()
    return name[:255] or None


async def receive(fx: Fx, offer: Offer, item: ChecklistItem, file: DownloadedFile) -> Intake:
    data = file.data
    digest = hashlib.sha256(data).hexdigest()
    same = await Document.filter(offer_id=offer.id, status="current", sha256=digest).first()
    if same is not None:
        return Intake("duplicate", item.key, document=same)
    result = await asyncio.to_thread(
        check_document, data, max_bytes=max_document_bytes(fx), accepts=item.accepts
    )
    if not result.ok:
        return Intake("rejected", item.key, problem=result.problem, details=result.details)
    key, digest = await asyncio.to_thread(
        fx.rt.documents.put, offer.candidate_id, data, result.suffix
    )
    replaced = await Document.filter(offer_id=offer.id, item=item.key, status="current").update(
        status="replaced"
    )
    document = await Document.create(
        candidate_id=offer.candidate_id,
        offer_id=offer.id,
        item=item.key,
        sha256=digest,
        storage_key=key,
        size=len(data),
        mime=result.mime,
        filename=clean_filename(file.filename),
    )
    return Intake("replaced" if replaced else "stored", item.key, document=document)
