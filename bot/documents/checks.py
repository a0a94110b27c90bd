"""Is this file a usable onboarding document? Decided from its bytes, never its name.

Accepted: JPEG, PNG and HEIC photos whose short side is at least `MIN_SHORT_SIDE_PX`,
and PDFs that open and are not encrypted. The result names the problem with a code the
flow turns into a polite sentence (catalog `documents.problem.<code>`).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import filetype
import pillow_heif
from PIL import Image
from pypdf import PdfReader

pillow_heif.register_heif_opener()

MIN_SHORT_SIDE_PX = 600
# A phone photo is 12–50 megapixels; far beyond that is a decompression bomb, not a scan.
MAX_PIXELS = 120_000_000

Kind = Literal["image", "pdf"]

# mime detected from the bytes → (kind, file suffix)
ACCEPTED_TYPES: dict[str, tuple[Kind, str]] = {
    "image/jpeg": ("image", "jpg"),
    "image/png": ("image", "png"),
    "image/heic": ("image", "heic"),
    "image/heif": ("image", "heic"),
    "application/pdf": ("pdf", "pdf"),
}


@dataclass(frozen=True)
class CheckResult:
    problem: str = ""  # "" when the file is fine
    kind: Kind | None = None
    mime: str = ""
    suffix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problem


def check_document(data: bytes, *, max_bytes: int, accepts: tuple[str, ...]) -> CheckResult:
    """Check size, real type, and that the content opens. `accepts` lists the kinds the
    checklist item takes ("image", "pdf"). CPU-bound: call it in a thread."""
    if not data:
        return CheckResult("empty")
    if len(data) > max_bytes:
        return CheckResult("too_large", details={"max_mb": _mb(max_bytes)})
    guess = filetype.guess(data)
    mime = guess.mime if guess else ""
    if mime not in ACCEPTED_TYPES:
        return CheckResult("unknown_type", details={"detected": mime})
    kind, suffix = ACCEPTED_TYPES[mime]
    typed = {"kind": kind, "mime": mime, "suffix": suffix}
    if kind not in accepts:
        return CheckResult(f"{kind}_not_accepted", **typed)
    problem, details = _check_image(data) if kind == "image" else _check_pdf(data)
    return CheckResult(problem, details=details, **typed)


def _mb(size: int) -> str:
    return f"{round(size / (1024 * 1024), 2):g}"


def _check_image(data: bytes) -> tuple[str, dict[str, Any]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    return "image_too_many_pixels", {"width": width, "height": height}
                img.load()  # a truncated or corrupt file fails here, not at open()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "image_too_many_pixels", {}
    except Exception:  # noqa: BLE001 - hostile bytes may fail in any decoder path
        return "image_broken", {}
    details = {"width": width, "height": height, "min_px": MIN_SHORT_SIDE_PX}
    if min(width, height) < MIN_SHORT_SIDE_PX:
        return "image_too_small", details
    return "", details


def _check_pdf(data: bytes) -> tuple[str, dict[str, Any]]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return "pdf_encrypted", {}
        pages = len(reader.pages)
        if pages == 0:
            return "pdf_broken", {}
        reader.pages[0].mediabox  # noqa: B018 - touching the first page proves it parses
    except Exception:  # noqa: BLE001 - pypdf raises many kinds of errors on broken input
        return "pdf_broken", {}
    return "", {"pages": pages}
