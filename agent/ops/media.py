"""A record's file over HTTP, for URLs the control plane signed (shared.media_urls), sent by
`RecordFile` (agent.ops.file_response: sendfile, `Range`, validators from the record's MD5). Nothing
else under the storage root is reachable: the signature names the record and its location, and only
that record's own files (`RecordManager.resolve_file`, never through a link) or a registered copy of
it (`CopyStore.resolve`: a record another deployment imported, or another agent's record synced
here) are served."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import web

from agent.errors import FileAccessError, UnknownRecordError
from agent.files.copies import CopyStore
from agent.ops.file_response import RecordFile
from agent.recording.manager import RecordManager
from shared.enums import RecordStatus
from shared.media_urls import MEDIA_PATH, MediaGrant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaFiles:
    """What the media route needs: the records, and the key URLs are signed with (None: no token, so
    nothing is served)."""

    records: RecordManager
    key: bytes | None
    copies: CopyStore | None = None


def _file_of(media: MediaFiles, record_id: str, location: str) -> RecordFile:
    """The file a signed (record, location) names: one of the agent's own recordings (looked up in
    memory, so first), else a registered copy (final, its MD5 the ETag); UnknownRecordError /
    FileAccessError otherwise."""
    try:
        info = media.records.resolve_file(record_id, location)
    except UnknownRecordError:
        if media.copies is None:
            raise
        copy = media.copies.resolve(record_id, location)  # not one of ours: a copy, or nothing
        return RecordFile(copy.path, f'"{copy.hash_md5}"')
    final = info.status == RecordStatus.COMPLETED and info.hash_md5 and location == info.location
    return RecordFile(info.path, f'"{info.hash_md5}"' if final and not info.growing else None)


def add_routes(app: web.Application, media: MediaFiles) -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        record_id = request.match_info["record_id"]
        query = request.query
        location, expires, signature = query.get("location"), query.get("expires"), query.get("signature")
        if media.key is None or not location or not signature or not (expires or "").isdigit():
            raise web.HTTPForbidden(text="a URL signed by the control plane is required")
        grant = MediaGrant(record_id, location, int(expires or 0))
        if not grant.signed_by(media.key, signature):
            raise web.HTTPForbidden(text="bad signature")
        if grant.expires_unix < time.time():
            raise web.HTTPForbidden(text="this URL has expired")
        try:
            return _file_of(media, record_id, location)
        except (UnknownRecordError, FileAccessError) as exc:
            log.debug("signed media URL for record %s refused: %s", record_id, exc)
            raise web.HTTPNotFound(text="no such file of this record") from None

    app.router.add_get(MEDIA_PATH, serve)
