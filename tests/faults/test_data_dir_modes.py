"""The data dir is the service's alone: the directory and every directory in it 0700, every
file 0600 (SQLite file, -wal, -shm, documents, the embedded Redis' files) after a realistic
run that starts from an empty data dir (see docs/privacy.md)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.storage import db
from bot.storage.models import Candidate
from tests.conftest import PG_URL
from tests.faults.test_personal_data import png
from tests.helpers import drain
from tests.offer_steps import hire, said, send


def loose_modes(root: Path) -> list[str]:
    """Every path under root (root included) whose mode lets anyone but the owner in."""
    out = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue  # the embedded Redis' unix socket is guarded by its 0700 directory
        mode = stat.S_IMODE(path.stat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode & ~want & 0o777 or mode & 0o077:
            out.append(f"{oct(mode)} {path}")
    return out


async def test_every_file_in_the_data_dir_is_the_services_alone(
    settings_factory, make_runtime, tmp_path
):
    old = os.umask(0o022)  # a usual login umask: files would be 0644 without the fix
    root = tmp_path / "fresh-data"
    overrides = {"storage": {"data_dir": str(root)}}
    if not PG_URL:
        overrides["database"] = {"url": f"sqlite://{root / 'offerbot.sqlite3'}"}
    settings = settings_factory(**overrides)
    try:
        if not PG_URL:  # a fresh SQLite file, as `offerbot migrate` then `serve` make it
            await db.migrate(settings)
        rt = await make_runtime(settings)
        async with TestClient(TestServer(build_app(rt))) as client:
            await hire(client, web_id="cand1", name="欧阳娜娜")
            await drain(rt)
            await send(rt, said("我家里人不太同意", user="cand1"))
            person = await Candidate.get(web_id="cand1")
            rt.documents.put(person.id, png(), "png")
        files = [p for p in root.rglob("*") if p.is_file()]
        assert any(p.name.endswith("-wal") for p in files) or PG_URL, files
        assert any("documents" in p.parts for p in files), files
        assert loose_modes(root) == []
    finally:
        os.umask(old)


def test_a_shared_directory_is_refused_and_left_as_it_was(tmp_path):
    """A data dir like /tmp holds other people's files: the bot refuses it instead of
    re-moding everything in it (a test once pointed the data dir at /tmp and did)."""
    import os
    import stat

    import pytest

    from bot.privacy import private_data_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    other = shared / "someone-elses.bin"
    other.write_bytes(b"x")
    os.chmod(other, 0o755)
    with pytest.raises(ValueError, match="shared directory"):
        private_data_dir(shared)
    assert stat.S_IMODE(other.stat().st_mode) == 0o755
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    private_data_dir(tmp_path / "own")  # a directory of its own is fine
    assert stat.S_IMODE((tmp_path / "own").stat().st_mode) == 0o700
