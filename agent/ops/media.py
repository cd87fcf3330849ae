"""A record's file over HTTP, for URLs the control plane signed (shared.media_urls), sent by
`RecordFileResponse` (agent.ops.file_response: sendfile, `Range`, validators from the record's MD5).
Nothing else under the storage root is reachable: the signature names the record and its location,
and only that record's own files (never through a link) or a registered copy of it (a record another
deployment imported, or another agent's record synced here) are served: `find_file`, the one lookup."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from agent.errors import FileAccessError, UnknownRecordError
from agent.files.copies.store import CopyStore
from agent.ops.file_response import RecordFileResponse
from agent.recording.lookup import find_file
from agent.recording.manager import RecordManager
from shared.media_urls import MEDIA_PATH, MediaGrant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaFiles:
    """What the media route needs: the records, and the key URLs are signed with (None: no token, so
    nothing is served)."""

    records: RecordManager
    key: bytes | None
    copies: CopyStore | None = None


def _unix(text: str | None) -> int | None:
    """A time as the signature has it: ASCII digits (not "²", which isdigit() accepts and int() does
    not), short enough for int() (it refuses more than 4300 digits)."""
    if not text or len(text) > 12 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


@functools.lru_cache(maxsize=1024)
def _signed(key: bytes, record_id: str, location: str, expires: int, signature: str) -> bool:
    """Whether the control plane signed this grant. A player asks for hundreds of ranges with one URL:
    its HMAC is computed once, not for each of them."""
    return MediaGrant(record_id, location, expires).signed_by(key, signature)


def _file_of(media: MediaFiles, record_id: str, location: str) -> RecordFileResponse:
    """The file a signed (record, location) names (agent.recording.lookup: the same lookup as the gRPC
    file calls); a final file's MD5 is its ETag. UnknownRecordError / FileAccessError otherwise."""
    served = find_file(media.records, media.copies, record_id, location)
    return RecordFileResponse(served.path, f'"{served.hash_md5}"' if served.final else None)


def add_routes(app: web.Application, media: MediaFiles) -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        record_id = request.match_info["record_id"]
        query = request.query
        location, expires, signature = (
            query.get("location"),
            _unix(query.get("expires")),
            query.get("signature"),
        )
        if media.key is None or not location or not signature or expires is None:
            raise web.HTTPForbidden(text="a URL signed by the control plane is required")
        if not _signed(media.key, record_id, location, expires, signature):
            raise web.HTTPForbidden(text="bad signature")
        if expires < time.time():
            raise web.HTTPForbidden(text="this URL has expired")
        try:
            return _file_of(media, record_id, location)
        except (UnknownRecordError, FileAccessError) as exc:
            log.debug("signed media URL for record %s refused: %s", record_id, exc)
            raise web.HTTPNotFound(text="no such file of this record") from None

    app.router.add_get(MEDIA_PATH, serve)
