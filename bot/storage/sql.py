"""Hot-path statements in plain SQL through tortoise's own connection (the transaction's,
inside `in_transaction()`), where one statement can do what the ORM needs two for:
UPDATE … RETURNING, INSERT … ON CONFLICT … RETURNING (SQLite 3.35+ and PostgreSQL).
Values go through the model's fields (`to_db_value`), and rows come back as model
instances (`_init_from_db`), so they read exactly like the ORM's (docs/performance.md,
"The reply path")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tortoise.models import Model

_MARK = re.compile(r"\?")


def dialect(model: type[Model]) -> str:
    return model._meta.db.capabilities.dialect


def db_value(model: type[Model], field: str, value: Any) -> Any:
    return model._meta.fields_map[field].to_db_value(value, model)


async def execute(model: type[Model], sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """Run `sql` (`?` placeholders, `{table}` for the model's table) on the model's
    connection; the rows it returns, as dicts."""
    sql = sql.replace("{table}", f'"{model._meta.db_table}"')
    if dialect(model) == "postgres":
        numbers = iter(range(1, len(values) + 1))
        sql = _MARK.sub(lambda _: f"${next(numbers)}", sql)
    # execute_query_dict: tortoise's asyncpg execute_query drops RETURNING rows
    return [dict(row) for row in await model._meta.db.execute_query_dict(sql, values)]


async def insert(
    model: type[Model], columns: tuple[str, ...], values: list[list[Any]], tail: str = ""
) -> list[dict[str, Any]]:
    """One INSERT of every row of `values` (one list per row, in `columns` order), then
    `tail` (ON CONFLICT …, RETURNING …); the rows it returns, as dicts."""
    marks = ",".join(["(" + ",".join("?" * len(columns)) + ")"] * len(values))
    names = ",".join(f'"{c}"' for c in columns)
    sql = f"INSERT INTO {{table}} ({names}) VALUES {marks}{tail}"
    return await execute(model, sql, [v for row in values for v in row])


async def rows(model: type[Model], sql: str, values: list[Any]) -> list[Model]:
    """`execute`, the RETURNING rows as instances of the model."""
    return [model._init_from_db(**row) for row in await execute(model, sql, values)]


async def claim_row(
    model: type[Model], pk: int, now: datetime, until: datetime, extra: str = "", *more: Any
) -> Model | None:
    """The lease of bot/worker.py::claim and the row itself, in one statement: the row
    (attempts counted) if nobody held a live lease on it and it is still `pending`."""
    at = [db_value(model, "locked_until", t) for t in (until, now)]
    found = await rows(
        model,
        'UPDATE {table} SET "locked_until"=?, "attempts"="attempts"+1 '
        'WHERE "id"=? AND ("locked_until" IS NULL OR "locked_until"<?) AND "status"=?'
        f"{' AND ' + extra if extra else ''} RETURNING *",
        [at[0], pk, at[1], "pending", *more],
    )
    return found[0] if found else None


async def claim_rows(
    model: type[Model], pks: list[int], now: datetime, until: datetime, extra: str = "", *more: Any
) -> dict[int, Model]:
    """`claim_row` for many rows in one statement: {id: row} of those it took."""
    if not pks:
        return {}
    at = [db_value(model, "locked_until", t) for t in (until, now)]
    marks = ",".join("?" * len(pks))
    found = await rows(
        model,
        'UPDATE {table} SET "locked_until"=?, "attempts"="attempts"+1 '
        f'WHERE "id" IN ({marks}) AND ("locked_until" IS NULL OR "locked_until"<?) '
        f'AND "status"=?{" AND " + extra if extra else ""} RETURNING *',
        [at[0], *pks, at[1], "pending", *more],
    )
    return {row.pk: row for row in found}


async def extend_claim(model: type[Model], pk: int, attempts: int, until: datetime) -> bool:
    """Move a claimed row's lease on to `until`, only while the claim is still the one
    that counted `attempts` (another claim would have counted one more) and not yet let
    go (a finished or failed job clears `locked_until`)."""
    found = await execute(
        model,
        'UPDATE {table} SET "locked_until"=? WHERE "id"=? AND "attempts"=? '
        'AND "locked_until" IS NOT NULL AND "status"=? RETURNING "id"',
        [db_value(model, "locked_until", until), pk, attempts, "pending"],
    )
    return bool(found)


_CHECKLIST_AND_ALERT = (
    '(SELECT c."id" FROM "document_checklist" c WHERE c."offer_id"=o."id") AS "x__checklist", '
    'EXISTS (SELECT 1 FROM "alert" a WHERE a."offer_id"=o."id" '
    "AND a.\"status\" IN ('open','claimed')) AS \"x__open_alert\" "
)


def _picked(model: type[Model], alias: str) -> tuple[list[str], str]:
    columns = list(model._meta.fields_db_projection.values())
    return columns, ", ".join(f'{alias}."{c}" AS "{alias}__{c}"' for c in columns)


def _offers_read(
    model: type[Model],
    requisition: type[Model],
    found: list[dict[str, Any]],
    req_columns: list[str],
):
    out = []
    for row in found:
        extra = {k: row.pop(k) for k in [k for k in row if k.startswith(("r__", "x__", "k__"))]}
        requisition_row = None
        if extra.get("r__id") is not None:
            requisition_row = requisition._init_from_db(
                **{c: extra[f"r__{c}"] for c in req_columns}
            )
        out.append(
            (
                model._init_from_db(**row),
                extra["x__checklist"],
                bool(extra["x__open_alert"]),
                requisition_row,
            )
        )
    return out


async def _select_offers(
    model: type[Model],
    requisition: type[Model],
    candidate: type[Model] | None,
    match: str,
    values: list[Any],
    limit: int,
):
    """The SELECT both readers below share: offers `o` matching `match`, newest first,
    with their requisition `r`, checklist and open alert and, when `candidate` is given,
    the candidate's columns as `k__…`; row-locked on PostgreSQL.
    Returns (rows, requisition columns, candidate columns)."""
    offer, req = f'"{model._meta.db_table}"', f'"{requisition._meta.db_table}"'
    req_columns, picked = _picked(requisition, "r")
    k_columns, joined = [], ""
    if candidate is not None:
        k_columns, k_picked = _picked(candidate, "k")
        picked += f", {k_picked}"
        joined = f'JOIN "{candidate._meta.db_table}" k ON k."id"=o."candidate_id" '
    lock = " FOR UPDATE OF o" if dialect(model) == "postgres" else ""
    found = await execute(
        model,
        f"SELECT o.*, {picked}, {_CHECKLIST_AND_ALERT}"
        f"FROM {offer} o {joined}"
        f'LEFT JOIN {req} r ON r."id"=o."requisition_id" '
        f'WHERE {match} ORDER BY o."id" DESC LIMIT ?{lock}',
        [*values, limit],
    )
    return found, req_columns, k_columns


async def candidate_offers(
    model: type[Model], requisition: type[Model], candidate_id: int, limit: int
):
    """A candidate's latest offers (newest first), row-locked on PostgreSQL, with what a
    reply to one of them reads next, in the same statement: each offer's document
    checklist id, whether it has an open (or claimed) alert, and its requisition.
    Returns [(offer, checklist id or None, has open alert, requisition or None)]."""
    found, req_columns, _ = await _select_offers(
        model, requisition, None, 'o."candidate_id"=?', [candidate_id], limit
    )
    return _offers_read(model, requisition, found, req_columns)


async def candidate_with_offers(
    candidate: type[Model],
    model: type[Model],
    requisition: type[Model],
    where: str,
    values: list[Any],
    limit: int,
):
    """The newest candidate matching `where` (on alias `k`, `?` placeholders) and, in the
    same statement, what `candidate_offers` reads for them. Returns (candidate, offers);
    (None, None) when the statement found no row: no such candidate, or one without
    offers (the caller then reads the candidate alone)."""
    people = f'"{candidate._meta.db_table}"'
    match = (
        f'o."candidate_id"=(SELECT k."id" FROM {people} k WHERE {where} '
        'ORDER BY k."id" DESC LIMIT 1)'
    )
    found, req_columns, k_columns = await _select_offers(
        model, requisition, candidate, match, values, limit
    )
    if not found:
        return None, None
    person = candidate._init_from_db(**{c: found[0][f"k__{c}"] for c in k_columns})
    return person, _offers_read(model, requisition, found, req_columns)


def _where(model: type[Model], where: dict[str, Any]) -> tuple[str, list[Any]]:
    """`"field"=?` (a tuple or list value: `"field" IN (…)`) joined with AND."""
    parts, values = [], []
    for name, value in where.items():
        column = model._meta.fields_db_projection[name]
        if isinstance(value, (tuple, list)):
            parts.append(f'"{column}" IN ({",".join("?" * len(value))})')
            values += [db_value(model, name, v) for v in value]
        else:
            parts.append(f'"{column}"=?')
            values.append(db_value(model, name, value))
    return " AND ".join(parts), values


async def update(model: type[Model], where: dict[str, Any], changes: dict[str, Any]) -> int:
    """`Model.filter(**where).update(**changes)` (equality and IN only) without the ORM's
    query building: how many rows it changed."""
    names = model._meta.fields_db_projection
    sets = ",".join(f'"{names[name]}"=?' for name in changes)
    condition, values = _where(model, where)
    found = await execute(
        model,
        f'UPDATE {{table}} SET {sets} WHERE {condition} RETURNING "id"',
        [db_value(model, name, v) for name, v in changes.items()] + values,
    )
    return len(found)


async def create(model: type[Model], **fields: Any) -> Model:
    """`Model.create(**fields)` in one INSERT … RETURNING, without the ORM's query
    building; defaults and auto_now stamps come from the model's fields as they would."""
    instance = model(**fields)
    meta = model._meta
    names = [n for n in meta.fields_db_projection if n != meta.pk_attr]
    values = [meta.fields_map[n].to_db_value(getattr(instance, n), instance) for n in names]
    columns = tuple(meta.fields_db_projection[n] for n in names)
    (row,) = await insert(model, columns, [values], " RETURNING *")
    return model._init_from_db(**row)


_TIMER_COLUMNS = ("key", "kind", "offer_id", "candidate_id", "due_at", "status", "attempts")


async def arm_timers(
    model: type[Model],
    timers: list[tuple[str, str, datetime, int | None, int | None, Any, datetime]],
    cancels: list[tuple[int, tuple[str, ...] | None]],
) -> list[dict[str, Any]]:
    """Create or re-arm the timers (key, kind, due_at, offer_id, candidate_id, data,
    created_at) with one upsert, and in the same statement cancel the pending timers of
    each (offer id, kinds or None for all) in `cancels` (bot/services/fx.py: Fx.schedule_all);
    the rows it returns, as dicts."""
    values = [
        [key, kind, offer_id, candidate_id, db_value(model, "due_at", due_at)]
        + ["pending", 0, db_value(model, "data", data or {})]
        + [db_value(model, "created_at", created)]
        for key, kind, due_at, offer_id, candidate_id, data, created in timers
    ]
    columns = (*_TIMER_COLUMNS, "data", "created_at")
    if not cancels:
        tail = (
            ' ON CONFLICT ("key") DO UPDATE SET "due_at"=excluded."due_at","status"=\'pending\','
            '"kind"=excluded."kind","data"=excluded."data","locked_until"=NULL,"fired_at"=NULL '
            "RETURNING *"
        )
        return await insert(model, columns, values, tail)
    # The timers to cancel as rows of the upsert, as they are but `cancelled` (the new
    # keys left out), first: PostgreSQL types the bare values after them from them.
    wheres, more = [], []
    for offer_id, kinds in cancels:
        where = '"offer_id"=?'
        more.append(offer_id)
        if kinds is not None:
            where += f' AND "kind" IN ({",".join("?" * len(kinds))})'
            more.extend(kinds)
        wheres.append(f"({where})")
    keys = [t[0] for t in timers]
    more += ["pending", *keys]
    one = "SELECT " + ",".join("?" * len(columns))
    names = ",".join(f'"{c}"' for c in columns)
    return await execute(
        model,
        f"INSERT INTO {{table}} ({names}) "
        'SELECT "key","kind","offer_id","candidate_id","due_at",\'cancelled\','
        f'"attempts","data","created_at" FROM {{table}} WHERE ({" OR ".join(wheres)}) '
        f'AND "status"=? AND "key" NOT IN ({",".join("?" * len(keys))})'
        + "".join(f" UNION ALL {one}" for _ in values)
        + ' ON CONFLICT ("key") DO UPDATE SET "due_at"=excluded."due_at",'
        '"status"=excluded."status","kind"=excluded."kind","data"=excluded."data",'
        "\"locked_until\"=CASE WHEN excluded.\"status\"='pending' THEN NULL "
        'ELSE {table}."locked_until" END,'
        "\"fired_at\"=CASE WHEN excluded.\"status\"='pending' THEN NULL "
        'ELSE {table}."fired_at" END RETURNING *',
        more + [v for row in values for v in row],
    )


async def cancel_timers(model: type[Model], offer_id: int, kinds: tuple[str, ...] | None) -> int:
    """The offer's pending timers (of `kinds`, None: all) cancelled; how many."""
    where: dict[str, Any] = {"offer_id": offer_id, "status": "pending"}
    if kinds is not None:
        where["kind"] = kinds
    return await update(model, where, {"status": "cancelled"})
