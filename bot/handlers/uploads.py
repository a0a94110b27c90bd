"""Reading an uploaded document from a multipart body: shared by the playground and the
candidate page (docs/documents.md has what the documents flow checks afterwards)."""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from bot.documents.checks import ACCEPTED_TYPES

MAX_FILENAME = 120
# Upload types: those the documents flow accepts; anything else is refused at the door.
UPLOAD_KINDS = {
    mime: ("image" if kind == "image" else "file") for mime, (kind, _) in ACCEPTED_TYPES.items()
}


async def read_part(part: BodyPartReader, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def clean_filename(name: str | None) -> str:
    """Just the file's own name, for showing (browsers send %22 for a quote, some clients
    percent-encode all of it); it never becomes a path."""
    name = unquote(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name[-MAX_FILENAME:] or "upload"
