"""Query plans of the statements the bot really runs, captured while it runs them.

`capture()` listens to tortoise's SQL log (logger `tortoise.db_client`, DEBUG) while a
piece of real work runs (a group commit, a job, a sweeper pass) and keeps each distinct
statement with the values it ran with. `explain()` then asks the database for the plan of
each (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN — neither executes the statement)
and judges it: a statement that reads a big table without an index lookup is a scan.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tortoise import Tortoise

SQL_LOGGER = "tortoise.db_client"
BIG_TABLE = 1000  # scanning a table with fewer rows than this is fine
_SKIP = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|SELECT 1\b)", re.I)
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")
_SQLITE_SCAN = re.compile(r"\bSCAN (\w+)")


@dataclass
class Statement:
    sql: str
    values: list[Any]
    plan: list[str] = field(default_factory=list)
    scans: list[str] = field(default_factory=list)  # big tables read without an index
    small_scans: list[str] = field(default_factory=list)  # small tables read whole (fine)

    @property
    def verb(self) -> str:
        return self.sql.split(None, 1)[0].upper()


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: dict[str, Statement] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg != "%s: %s" or not isinstance(record.args, tuple):
            return
        sql, values = record.args
        if not isinstance(sql, str) or _SKIP.match(sql) or sql in self.seen:
            return
        if isinstance(values, list) and values and isinstance(values[0], list | tuple):
            values = list(values[0])  # executemany: one row's values are enough
        self.seen[sql] = Statement(sql, list(values or []))


@contextmanager
def capture() -> Iterator[list[Statement]]:
    """Collect the distinct SQL statements run inside the block (in first-run order)."""
    logger = logging.getLogger(SQL_LOGGER)
    collector = _Collector()
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # keep the statements out of the console
    logger.addHandler(collector)
    out: list[Statement] = []
    try:
        yield out
    finally:
        logger.removeHandler(collector)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        out.extend(collector.seen.values())


async def _row_counts() -> dict[str, int]:
    conn = Tortoise.get_connection("default")
    counts = {}
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        _, rows = await conn.execute_query(f'SELECT count(*) AS n FROM "{table}"')
        counts[table] = int(dict(rows[0])["n"])
    return counts


async def explain(statements: list[Statement]) -> dict[str, int]:
    """Fill in plan and scans of every statement; returns the row count per table."""
    conn = Tortoise.get_connection("default")
    sqlite = conn.capabilities.dialect == "sqlite"
    counts = await _row_counts()
    for st in statements:
        if sqlite:
            _, rows = await conn.execute_query("EXPLAIN QUERY PLAN " + st.sql, st.values)
            st.plan = [str(dict(r)["detail"]) for r in rows]
            found = [m.group(1) for line in st.plan if (m := _SQLITE_SCAN.search(line))]
        else:
            _, rows = await conn.execute_query("EXPLAIN " + st.sql, st.values)
            st.plan = [str(next(iter(dict(r).values()))) for r in rows]
            found = [m.group(1) for line in st.plan if (m := _PG_SCAN.search(line))]
        st.scans = sorted({t for t in found if counts.get(t, 0) >= BIG_TABLE})
        st.small_scans = sorted({t for t in found if t in counts and t not in st.scans})
    return counts


def short(sql: str, limit: int = 220) -> str:
    """A statement as a reader needs it: long IN/VALUES lists and column lists folded."""
    sql = re.sub(r"\((?:\s*(?:\?|\$\d+)\s*,){3,}\s*(?:\?|\$\d+)\s*\)", "(…)", sql)
    sql = re.sub(r"(VALUES \(…\))(?:,\(…\))+", r"\1, …", sql)
    sql = re.sub(r"SELECT (\"\w+\"(?: \"?\w+\"?)?,){4,}\"\w+\"(?: \"?\w+\"?)?", "SELECT …", sql)
    return sql if len(sql) <= limit else sql[: limit - 1] + "…"


def verdict(st: Statement, counts: dict[str, int]) -> str:
    if st.scans:
        return "✗ scans " + ", ".join(f"{t} ({counts.get(t, 0):,} rows)" for t in st.scans)
    if st.small_scans:
        tables = ", ".join(f"{t} ({counts.get(t, 0):,} rows)" for t in st.small_scans)
        return f"✓ reads a small table whole: {tables}"
    if st.verb == "INSERT":
        return "✓ insert (unique indexes checked by lookup)"
    return "✓ index / primary key"


def markdown(sections: dict[str, list[Statement]], counts: dict[str, int]) -> str:
    out = []
    for title, statements in sections.items():
        out += [f"**{title}**", ""]
        for st in statements:
            out.append(f"- `{short(st.sql)}` — {verdict(st, counts)}")
            plan = [line for line in st.plan if line.strip()] or ["(no table access)"]
            out.append("  ```")
            out += [f"  {line}" for line in plan[:8]]
            out.append("  ```")
        out.append("")
    return "\n".join(out)
