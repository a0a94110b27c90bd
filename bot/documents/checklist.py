"""The onboarding checklist: which items, in which order, and where each one stands.

The checklist comes from the requisition (`documents`) or the config default
(`[documents].checklist`), and is snapshotted on the offer's `DocumentChecklist` row when
collection starts. An item is *done* when a current `Document` row exists for it,
*skipped* when the candidate said they will send it later, else *missing*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from bot.config import DEFAULT_CHECKLIST
from bot.i18n import Catalog
from bot.storage import sql
from bot.storage.models import Document, DocumentChecklist, Offer, Requisition

if TYPE_CHECKING:
    from bot.config import Settings

ItemStatus = Literal["done", "missing", "skipped"]

# Every item takes a photo or a PDF scan, except the ID photo itself.
_ACCEPTS: dict[str, tuple[str, ...]] = {"photo": ("image",)}
_DEFAULT_ACCEPTS = ("image", "pdf")


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    name_zh: str
    name_en: str
    accepts: tuple[str, ...]  # "image", "pdf"
    required: bool = True

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh

    def hint(self, catalog: Catalog) -> str:
        return catalog.t(f"documents.items.{self.key}.hint")


def _catalog_name(language: str, key: str) -> str:
    try:
        return str(Catalog(language).raw(f"documents.items.{key}.name"))
    except KeyError:
        return key


def item_for(key: str) -> ChecklistItem:
    return ChecklistItem(
        key=key,
        name_zh=_catalog_name("zh", key),
        name_en=_catalog_name("en", key),
        accepts=_ACCEPTS.get(key, _DEFAULT_ACCEPTS),
    )


def keys_for(requisition: Requisition | None, settings: Settings | None) -> list[str]:
    """The requisition's list (`[]`: none needed), else the config default, else the
    built-in one."""
    if requisition is not None and requisition.documents is not None:
        keys = [str(k) for k in requisition.documents]
    elif settings is not None:
        keys = list(settings.documents.checklist)
    else:
        keys = list(DEFAULT_CHECKLIST)
    return list(dict.fromkeys(keys))  # a repeated key would count twice in k/n


@dataclass(frozen=True)
class ItemState:
    item: ChecklistItem
    status: ItemStatus
    document_id: int | None = None


@dataclass(frozen=True)
class Progress:
    checklist: DocumentChecklist | None
    items: tuple[ItemState, ...]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def done(self) -> int:
        return sum(1 for s in self.items if s.status == "done")

    @property
    def complete(self) -> bool:
        return all(s.status == "done" for s in self.items if s.item.required)

    @property
    def missing(self) -> list[ItemState]:
        return [s for s in self.items if s.status != "done"]

    def state(self, key: str) -> ItemState | None:
        return next((s for s in self.items if s.item.key == key), None)

    def number(self, key: str) -> int:
        """The item's 1-based place in the list (what candidates may type)."""
        return next(i for i, s in enumerate(self.items, 1) if s.item.key == key)

    def next_to_ask(self, after: str | None = None) -> ItemState | None:
        """The first missing item not put off; when only put-off items are left, the next
        of those after `after` (so repeated skips walk through them)."""
        for s in self.items:
            if s.status == "missing":
                return s
        skipped = [s for s in self.items if s.status == "skipped"]
        if not skipped:
            return None
        keys = [s.item.key for s in skipped]
        if after in keys:
            return skipped[(keys.index(after) + 1) % len(skipped)]
        return skipped[0]


async def current_documents(offer_id: int) -> dict[str, Document]:
    rows = await Document.filter(offer_id=offer_id, status="current").order_by("id")
    return {row.item: row for row in rows}  # the newest row wins if two slipped in


async def start_checklist(offer: Offer, keys: list[str]) -> Progress | None:
    """The offer's checklist, new, asking for its first item, with one statement (INSERT …
    ON CONFLICT DO NOTHING RETURNING: docs/performance.md); None if it had one already.
    A new checklist has nothing done: files are taken only while one exists."""
    keys = list(dict.fromkeys(keys))
    now = datetime.now(UTC)
    at = sql.db_value(DocumentChecklist, "created_at", now)
    found = await sql.rows(
        DocumentChecklist,
        'INSERT INTO {table} ("offer_id","items","skipped","asking","created_at","updated_at") '
        'VALUES (?,?,?,?,?,?) ON CONFLICT ("offer_id") DO NOTHING RETURNING *',
        [
            offer.id,
            sql.db_value(DocumentChecklist, "items", keys),
            sql.db_value(DocumentChecklist, "skipped", []),
            keys[0] if keys else None,
            at,
            at,
        ],
    )
    if not found:
        return None
    return Progress(found[0], tuple(ItemState(item_for(key), "missing") for key in keys))


async def load_progress(offer: Offer, settings: Settings | None = None) -> Progress:
    checklist = await DocumentChecklist.get_or_none(offer_id=offer.id)
    if checklist is not None:
        keys = list(checklist.items)
        skipped = set(checklist.skipped or ())
    else:
        requisition = await Requisition.get_or_none(id=offer.requisition_id)
        keys, skipped = keys_for(requisition, settings), set()
    docs = await current_documents(offer.id)
    states = []
    for key in keys:
        doc = docs.get(key)
        if doc is not None:
            states.append(ItemState(item_for(key), "done", doc.id))
        else:
            states.append(ItemState(item_for(key), "skipped" if key in skipped else "missing"))
    return Progress(checklist, tuple(states))


async def checklist_state(
    offer: Offer, *, settings: Settings | None = None, language: str = "zh"
) -> list[dict]:
    """For the API and `/docs`: one dict per item, in checklist order.

    `{"key", "name", "status": "done"|"missing"|"skipped", "document_id", "required"}`.
    `settings` only matters before collection starts (it supplies the config default)."""
    progress = await load_progress(offer, settings)
    return [
        {
            "key": s.item.key,
            "name": s.item.name(language),
            "status": s.status,
            "document_id": s.document_id,
            "required": s.item.required,
        }
        for s in progress.items
    ]
