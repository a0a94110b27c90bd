"""`offerbot import-csv` through `bot.cli.main`, with a config file pointing at the test
database: good rows, bad rows with their line numbers, BOM, re-runs, unreadable files.

These tests are synchronous: the command runs its own event loop, as it does in a shell.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

from bot.cli import main
from bot.storage import db
from bot.storage.models import (
    Application,
    Candidate,
    Interview,
    Offer,
    Outbox,
    Reason,
    Requisition,
    TimelineEvent,
    Timer,
)
from tests.conftest import PG_URL, REDIS_URL, base_settings
from tests.helpers import empty_postgres


def run_db(settings, work):
    """Run `work()` against the database outside the command (its own event loop)."""

    async def go():
        await db.init_db(settings)
        try:
            return await work()
        finally:
            await db.close_db()

    return asyncio.run(go())


async def _prepare(settings) -> None:
    """The test schema comes from the models; mark the migrations as applied so the
    command's own `migrate` finds nothing to do. PostgreSQL is shared: empty it."""
    await tortoise_migrate(config=db.tortoise_config(settings), fake=True)
    await Tortoise.close_connections()
    if PG_URL:
        await db.init_db(settings)
        await empty_postgres()
        await db.close_db()


def write_config(path: Path, settings) -> Path:
    path.write_text(
        f"""
[database]
url = "{settings.database.url}"
[redis]
url = "{REDIS_URL}"
[storage]
data_dir = "{settings.storage.data_dir}"
[company]
quiet_hours = []
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def env(tmp_path, data_dir, db_url):
    settings = base_settings(data_dir, db_url)
    asyncio.run(_prepare(settings))
    config = write_config(tmp_path / "config.toml", settings)

    def run(kind: str, csv_text: str | bytes, name: str | None = None) -> int:
        path = tmp_path / (name or f"{kind}.csv")
        if isinstance(csv_text, str):
            csv_text = csv_text.encode("utf-8")
        path.write_bytes(csv_text)
        return main(["import-csv", kind, str(path), "--config", str(config)])

    run.settings = settings
    run.config = config
    run.dir = tmp_path
    return run


CANDIDATES = (
    "external_id,name,phone,email,expectations.salary_min,expectations.notes\n"
    'C1,张伟,+86 138-0013-8000,zw@example.com,30000,"想要\n远程"\n'  # lines 2-3
    "C2,李娜,13900139000,,25000.50,\n"  # line 4
    "C3,王五,call me,,,\n"  # line 5: bad phone
    ",,,,,\n"  # line 6: blank, skipped
    "C4,,13700137000,,,\n"  # line 7: no name
    "C5,赵六,,,,,extra\n"  # line 8: one value too many
    "C6,钱七,,not-mail,-1,\n"  # line 9: two bad fields
)


def test_candidates_good_and_bad_rows_with_line_numbers(env, capsys):
    assert env("candidates", "\ufeff" + CANDIDATES) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0] == "imported 2 / updated 0 / rejected 4"
    assert lines[1].startswith("line 5: phone: ")
    assert lines[2] == "line 7: name: required"
    assert lines[3].startswith("line 8: ") and "columns" in lines[3]
    assert lines[4].startswith("line 9: email: ") and "expectations.salary_min" in lines[4]
    assert "100%" in err and "6/6" in err  # the progress bar ran to the end

    async def check():
        zw = await Candidate.get(external_id="C1")
        ln = await Candidate.get(external_id="C2")
        return zw, ln, await Candidate.all().count()

    zw, ln, count = run_db(env.settings, check)
    assert count == 2
    assert (zw.name, zw.phone_norm, zw.email) == ("张伟", "13800138000", "zw@example.com")
    assert zw.expectations == {"salary_min": 30000, "notes": "想要\n远程"}
    assert ln.expectations == {"salary_min": 25000.5}


def test_a_second_import_updates_the_same_rows(env, capsys):
    assert env("candidates", CANDIDATES) == 0
    ids = run_db(env.settings, lambda: Candidate.all().order_by("id").values_list("id", flat=True))
    capsys.readouterr()
    changed = CANDIDATES.replace("李娜,13900139000", "李娜,13600136000")
    assert env("candidates", changed) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0] == "imported 0 / updated 2 / rejected 4"
    again = run_db(
        env.settings, lambda: Candidate.all().order_by("id").values_list("id", "phone_norm")
    )
    assert [i for i, _ in again] == list(ids)
    assert ("13600136000" in [p for _, p in again]) and len(again) == 2


# One company's history, in the order an operator imports it; line 3 of each is bad.
HISTORY = {
    "requisitions": (
        "external_id,title,headcount,urgency,status,documents\n"
        'R1,销售经理,2,high,open,"id_card_front; diploma"\n'
        "R2,文员,1,urgent,open,\n"
    ),
    "candidates": "external_id,name,phone\nC1,张伟,13800138000\nC2,,\n",
    "applications": (
        "external_id,candidate_external_id,requisition_external_id,applied_at,source\n"
        "A1,C1,R1,2024-03-01 10:00,Boss直聘\n"
        "A2,C1,NOPE,2024-03-02,\n"
    ),
    "interviews": (
        "application_external_id,round,score,notes,held_at,feedback_sent_at\n"
        "A1,1,4,不错,2024-03-05 14:00,2024-03-06 10:00\n"
        "A1,2,9,,2024-03-08 14:00,\n"
    ),
    "offers": (
        "application_external_id,salary_monthly,start_date,status,reason_category,"
        "reason_text,sent_at,declined_at\n"
        "A1,30000,2024-04-01,declined,salary,对方给得更多,2024-03-10 09:00,2024-03-11 18:00\n"
        "A1,1,2024-05-01,lost,,,,\n"
    ),
}


def test_a_whole_history_imports_without_messaging_anyone(env, capsys):
    for kind, text in HISTORY.items():
        assert env(kind, text) == 0
    out = capsys.readouterr().out
    assert out.count("imported 1 / updated 0 / rejected 1") == len(HISTORY)
    assert "line 3: urgency: " in out  # requisitions: R2
    assert "line 3: name: required" in out
    assert "line 3: requisition_external_id: no requisition" in out
    assert "line 3: score: " in out
    assert "line 3: status: " in out  # offers: unknown status

    async def check():
        req = await Requisition.get(external_id="R1")
        app = await Application.get(external_id="A1")
        offer = await Offer.get(application_id=app.id)
        return {
            "documents": req.documents,
            "applied_at": app.applied_at,
            "interviews": await Interview.filter(application_id=app.id).count(),
            "offer": (
                offer.status,
                offer.reason_category,
                offer.reason_text,
                offer.created_at,
                offer.declined_at,
                offer.closed_at,
                offer.candidate_id,
            ),
            "reason": await Reason.filter(offer_id=offer.id).values_list(
                "kind", "category", "text"
            ),
            "to_candidates": await Outbox.filter(recipient_kind="user").count(),
            "timers": await Timer.filter(offer_id=offer.id).count(),
            "timeline": await TimelineEvent.filter(offer_id=offer.id).values_list(
                "kind", flat=True
            ),
            "candidate": (await Candidate.get(external_id="C1")).id,
        }

    got = run_db(env.settings, check)
    assert got["documents"] == ["id_card_front", "diploma"]
    assert got["applied_at"] == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # company time → UTC
    assert got["interviews"] == 1
    status, category, text, sent, declined, closed, candidate_id = got["offer"]
    assert (status, category, text) == ("declined", "salary", "对方给得更多")
    assert sent == datetime(2024, 3, 10, 1, 0, tzinfo=UTC)  # statistics count by sent time
    assert declined == closed == datetime(2024, 3, 11, 10, 0, tzinfo=UTC)
    assert candidate_id == got["candidate"]
    assert got["reason"] == [("decline", "salary", "对方给得更多")]
    assert got["to_candidates"] == 0 and got["timers"] == 0  # history: nobody is messaged
    assert got["timeline"] == ["offer_imported"]


def test_offer_import_twice_is_one_offer(env, capsys):
    env("requisitions", "external_id,title\nR1,销售\n")
    env("candidates", "external_id,name\nC1,张伟\n")
    env("applications", "external_id,candidate_external_id,requisition_external_id\nA1,C1,R1\n")
    rows = "application_external_id,salary_monthly,start_date,status\nA1,30000,2024-04-01,{}\n"
    env("offers", rows.format("sent"))
    env("offers", rows.format("accepted"))
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "imported 0 / updated 1 / rejected 0"
    offers = run_db(env.settings, lambda: Offer.all().values_list("status", "accepted_at"))
    assert len(offers) == 1 and offers[0][0] == "accepted" and offers[0][1] is not None


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "cannot read"),
        ("姓名,电话\n张伟,1\n".encode("gbk"), "not UTF-8"),
        (b"", "no header"),
        (b"external_id,name,nickname\nC1,x,y\n", "unknown column(s) nickname"),
        (b"name,name\nx,y\n", "given twice"),
        (b'name\n"unterminated\nx\n', "not valid CSV"),
    ],
    ids=["missing", "gbk", "empty", "unknown-column", "repeated-column", "open-quote"],
)
def test_an_unreadable_file_exits_1_with_a_clear_message(env, capsys, content, expected):
    path = env.dir / "input.csv"
    if content is not None:
        path.write_bytes(content)
    code = main(["import-csv", "candidates", str(path), "--config", str(env.config)])
    out, err = capsys.readouterr()
    assert code == 1
    assert expected in err and out == ""
    assert run_db(env.settings, lambda: Candidate.all().count()) == 0


def test_control_characters_reject_only_their_row(env, capsys):
    assert env("candidates", "name,email\n张\x00伟,a@b.co\n李娜,c@d.co\n") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "imported 1 / updated 0 / rejected 1",
        "line 2: name: contains control characters",
    ]


def test_a_directory_is_not_a_file(env, capsys):
    code = main(["import-csv", "candidates", str(env.dir), "--config", str(env.config)])
    assert code == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.fixture
def fresh_db_url(tmp_path):
    """An empty database: the command must create the schema itself."""
    if not PG_URL:
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    import asyncpg

    name = f"offerbot_imp_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_URL.replace("postgres://", "postgresql://", 1)

    async def run(sql):
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_an_empty_database_is_migrated_first(tmp_path, data_dir, fresh_db_url, capsys):
    settings = base_settings(data_dir, fresh_db_url)
    config = write_config(tmp_path / "config.toml", settings)
    path = tmp_path / "r.csv"
    path.write_text("external_id,title\nR1,销售经理\n", encoding="utf-8")
    assert main(["import-csv", "requisitions", str(path), "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("imported 1 / updated 0 / rejected 0")
    assert run_db(settings, lambda: Requisition.filter(external_id="R1").count()) == 1
