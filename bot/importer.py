"""`offerbot import-csv KIND FILE`: history from a CSV file (see docs/api.md).

The header row uses the field names of the matching API body (nested ones dotted:
`expectations.salary_min`); every row is validated by the same pydantic model and stored
by the same upsert as the API, each row in its own transaction, so a bad row never stops
the good ones. Offers are imported as history (`OfferHistoryIn`): stored as they were,
with their status and timestamps, and nobody is messaged.

Prints `imported N / updated N / rejected N`, then `line K: reason` per rejected row (the
header is line 1). Exit code 0 unless the file cannot be read as a CSV of that kind.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError
from tortoise.exceptions import IntegrityError

from bot.api_schemas import (
    ApplicationIn,
    CandidateIn,
    InterviewIn,
    OfferHistoryIn,
    RequisitionIn,
    field_errors,
    validation_context,
)
from bot.config import Settings
from bot.runtime import Runtime
from bot.usecases import ats

KINDS: dict[str, tuple[type[BaseModel], Callable]] = {
    "requisitions": (RequisitionIn, ats.upsert_requisition),
    "candidates": (CandidateIn, ats.upsert_candidate),
    "applications": (ApplicationIn, ats.upsert_application),
    "interviews": (InterviewIn, ats.upsert_interview),
    "offers": (OfferHistoryIn, ats.import_offer),
}
# Columns holding a list: "id_card_front, diploma" (commas, semicolons, | or spaces).
_LIST_SPLIT = re.compile(r"[,;|\s]+")


class UnreadableFile(Exception):
    """The file as a whole cannot be imported (missing, not UTF-8, not CSV, bad header)."""


@dataclass
class Row:
    line: int  # where the record starts in the file (header = 1)
    cells: list[str]


@dataclass
class Summary:
    imported: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"imported {self.imported} / updated {self.updated} / rejected {len(self.rejected)}"
        return [head, *(f"line {line}: {reason}" for line, reason in self.rejected)]


# -- reading ------------------------------------------------------------------------------


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def columns(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Column name → the nested model it belongs to (None for a top-level field)."""
    out: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        nested = _nested_model(info.annotation)
        if nested is None:
            out[name] = None
        else:
            out.update({f"{name}.{sub}": nested for sub in nested.model_fields})
    return out


def read_rows(path: str, model: type[BaseModel]) -> tuple[list[str], list[Row]]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # with or without a BOM (Excel writes one)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{path} is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8'"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # broken quoting: stop
    rows: list[Row] = []
    try:
        header = [name.strip() for name in next(reader, [])]
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append(Row(start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UnreadableFile(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
    _check_header(path, header, model)
    return header, rows


def _check_header(path: str, header: list[str], model: type[BaseModel]) -> None:
    if not any(header):
        raise UnreadableFile(f"{path} has no header row")
    known = columns(model)
    unknown = [name for name in header if name not in known]
    if unknown:
        raise UnreadableFile(
            f"{path}: unknown column(s) {', '.join(unknown) or '(empty)'}; "
            f"known: {', '.join(known)}"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UnreadableFile(f"{path}: column(s) given twice: {', '.join(repeated)}")


def row_body(header: list[str], row: Row, model: type[BaseModel]) -> dict[str, Any]:
    """The API body for one row; empty cells are fields not given."""
    if len(row.cells) > len(header):
        raise ValueError(f"{len(row.cells)} values for {len(header)} columns")
    body: dict[str, Any] = {}
    for name, cell in zip(header, row.cells, strict=False):
        if not cell.strip():
            continue
        value: Any = cell
        if _is_list(model, name):
            value = [item for item in _LIST_SPLIT.split(cell) if item]
        parent, dot, child = name.partition(".")
        if dot:
            body.setdefault(parent, {})[child] = value
        else:
            body[name] = value
    return body


def _is_list(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields.get(name)
    if info is None:
        return False
    return any(
        typing.get_origin(t) is list for t in (info.annotation, *typing.get_args(info.annotation))
    )


# -- progress -----------------------------------------------------------------------------


class Progress:
    """A one-line text progress bar on stderr, redrawn when the percentage changes."""

    WIDTH = 30

    def __init__(self, total: int, label: str, out: TextIO | None = None):
        self.total, self.label, self.out = total, label, out or sys.stderr
        self._shown = -1

    def update(self, done: int) -> None:
        percent = 100 if not self.total else done * 100 // self.total
        if percent == self._shown:
            return
        self._shown = percent
        filled = self.WIDTH * percent // 100
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.out.write(f"\r{self.label} [{bar}] {done}/{self.total} {percent:3d}%")
        self.out.flush()

    def close(self) -> None:
        self.update(self.total)
        self.out.write("\n")
        self.out.flush()


# -- importing ----------------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc))
    if isinstance(exc, ats.NotFound):
        return f"{exc.field}: {exc}"
    if isinstance(exc, IntegrityError):
        return "conflicts with a stored record (an external_id used twice?)"
    if isinstance(exc, ats.Conflict | ValueError):
        return str(exc)
    return f"could not be stored ({type(exc).__name__})"


async def import_rows(rt, kind: str, header: list[str], rows: list[Row]) -> Summary:
    model, store = KINDS[kind]
    context = validation_context(rt.settings)
    summary = Summary()
    progress = Progress(len(rows), f"importing {kind}")
    for done, row in enumerate(rows, start=1):
        try:
            data = model.model_validate(row_body(header, row, model), context=context)
            result = await ats.committed(rt.fx(actor="import"), store, data)
        except Exception as exc:  # noqa: BLE001 - a bad row never stops the good ones
            summary.rejected.append((row.line, _reason(exc)))
        else:
            if result[1]:
                summary.imported += 1
            else:
                summary.updated += 1
        progress.update(done)
    progress.close()
    return summary


async def run_import(
    settings: Settings, kind: str, file: str, *, start: Callable[[Settings], Awaitable[Runtime]]
) -> int:
    """`offerbot import-csv`; `start` opens the runtime (bot.compose.start_runtime)."""
    if kind not in KINDS:
        print(f"unknown kind {kind!r}; one of {', '.join(KINDS)}", file=sys.stderr)
        return 2
    try:
        header, rows = read_rows(file, KINDS[kind][0])
    except UnreadableFile as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 1
    rt = await start(settings)  # migrates the schema first, then connects
    try:
        summary = await import_rows(rt, kind, header, rows)
    finally:
        await rt.close()
    print("\n".join(summary.lines()))
    return 0
