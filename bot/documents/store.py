"""Where onboarding documents live: a storage interface with a local backend.

Files are named by SHA-256 under `<root>/<candidate id>/`, readable only by the service
(directories 0700, files 0600). Another backend (S3-compatible) implements the same
four methods.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Protocol


class DocumentStore(Protocol):
    def put(self, candidate_id: int, data: bytes, suffix: str) -> tuple[str, str]: ...
    def get(self, key: str) -> bytes: ...
    def delete_candidate(self, candidate_id: int) -> int: ...
    def path(self, key: str) -> Path: ...


class LocalDocumentStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def _dir(self, candidate_id: int) -> Path:
        d = self.root / str(int(candidate_id))
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        os.chmod(d, 0o700)
        return d

    def put(self, candidate_id: int, data: bytes, suffix: str) -> tuple[str, str]:
        """Store bytes; returns (storage key, sha256). Same bytes → same key, stored once."""
        digest = hashlib.sha256(data).hexdigest()
        suffix = "".join(ch for ch in suffix.lower() if ch.isalnum())[:8]
        name = f"{digest}.{suffix}" if suffix else digest
        target = self._dir(candidate_id) / name
        if not target.exists():
            tmp = target.with_suffix(".part")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        return f"{int(candidate_id)}/{name}", digest

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root not in p.parents:
            raise ValueError("storage key outside the store")
        return p

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete_candidate(self, candidate_id: int) -> int:
        d = self.root / str(int(candidate_id))
        if not d.exists():
            return 0
        count = sum(1 for _ in d.iterdir())
        shutil.rmtree(d)
        return count
