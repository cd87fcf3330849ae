"""A record's file over HTTP, for URLs the control plane signed (shared.media_urls): aiohttp's
`FileResponse` sends it with sendfile and answers `Range`. Nothing else under the storage root is
reachable: the signature names the record and its location, and only that record's own files
(`RecordManager.resolve_file`, never through a link) or a registered copy of it (`CopyStore.resolve`:
a record another deployment imported, or another agent's record synced here) are served.

Validators: a completed record's ETag is its MD5, which never changes; a file that is still growing
has none and must not be cached (`no-store`). aiohttp's own validators (mtime and size, dates) would
contradict that, so conditional headers are settled here and aiohttp sees only `Range`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import hdrs, web
from multidict import CIMultiDict

from agent.errors import FileAccessError, UnknownRecordError
from agent.files.copies.store import CopyStore
from agent.recording.manager import RecordManager
from shared.enums import RecordStatus
from shared.media_urls import MEDIA_PATH, MediaGrant

log = logging.getLogger(__name__)

_CONDITIONS = (
    hdrs.IF_MATCH,
    hdrs.IF_NONE_MATCH,
    hdrs.IF_RANGE,
    hdrs.IF_MODIFIED_SINCE,
    hdrs.IF_UNMODIFIED_SINCE,
)


@dataclass(frozen=True)
class MediaFiles:
    """What the media route needs: the records, and the key URLs are signed with (None: no token, so
    nothing is served)."""

    records: RecordManager
    key: bytes | None
    copies: CopyStore | None = None


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak_equal(tag: str, etag: str) -> bool:
    return tag.removeprefix("W/") == etag


class RecordFile(web.FileResponse):
    """One record's file; `etag` is the quoted MD5 of a completed record, None while it grows."""

    def __init__(self, path: object, etag: str | None) -> None:
        headers = {
            hdrs.CONTENT_TYPE: "video/mp4",
            # A signed URL is a short-lived credential: shared caches keep nothing.
            hdrs.CACHE_CONTROL: "no-store" if etag is None else "private",
        }
        super().__init__(path, headers=headers)  # type: ignore[arg-type]
        self.record_etag = etag

    async def prepare(self, request: web.BaseRequest) -> object:  # type: ignore[override]
        headers = request.headers
        etag = self.record_etag
        if_match = headers.get(hdrs.IF_MATCH)
        if if_match is not None and not (
            etag is not None and any(t == "*" or t == etag for t in _tags(if_match))
        ):
            return await self._answer_empty(request, 412)
        if_none_match = headers.get(hdrs.IF_NONE_MATCH)
        if (
            if_none_match is not None
            and etag is not None
            and any(t == "*" or _weak_equal(t, etag) for t in _tags(if_none_match))
        ):
            return await self._answer_empty(request, 304)
        kept = CIMultiDict((k, v) for k, v in headers.items() if k not in _CONDITIONS)
        if_range = headers.get(hdrs.IF_RANGE)
        if if_range is not None and (etag is None or if_range.strip() != etag):
            # Only the strong MD5 ETag validates a range; anything else gets the whole file.
            kept.popall(hdrs.RANGE, None)
        return await super().prepare(request.clone(headers=kept))

    async def _answer_empty(self, request: web.BaseRequest, status: int) -> object:
        self.set_status(status)
        self.content_length = 0
        return await web.StreamResponse.prepare(self, request)


async def fix_validators(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: replace aiohttp's mtime-size ETag and Last-Modified with the record's."""
    if not isinstance(response, RecordFile):
        return
    response.headers.popall(hdrs.LAST_MODIFIED, None)
    response.headers.popall(hdrs.ETAG, None)
    if response.record_etag is not None and response.status in (200, 206, 304):
        response.headers[hdrs.ETAG] = response.record_etag


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
    app.on_response_prepare.append(fix_validators)
