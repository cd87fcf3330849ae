"""One record's file as an HTTP answer: its conditional headers settled against the record's MD5
ETag, one byte range (shared.ranges, as the control plane answers them), the bytes sent with
sendfile.

Not aiohttp's `FileResponse`, for what a player costs: hundreds of 1 MiB ranges a minute over one
kept URL. `FileResponse` opens and stats the file in a thread and closes it in another (about a third
of the agent's CPU per range, py-spy); here both happen on the event loop, which for a local
regular file takes microseconds. Its validators (mtime and size, dates) would contradict the
record's: a completed record's ETag is its MD5, which never changes; a file still growing has none
and must not be cached (`no-store`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDictProxy

from shared.ranges import RangeNotSatisfiable, parse_range

# O_NONBLOCK: a FIFO planted at a record's name must not block the event loop in open(); it
# changes nothing for a regular file. O_NOFOLLOW: a file swapped for a link after its path was
# checked is refused, not followed.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# Closes handed to a thread (see _close) must be referenced until they finish.
_CLOSING: set[asyncio.Future[None]] = set()


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak_equal(tag: str, etag: str) -> bool:
    return tag.removeprefix("W/") == etag


class RecordFileResponse(web.StreamResponse):
    """One record's file; `etag` is the quoted MD5 of a completed record, None while it grows."""

    def __init__(self, path: Path, etag: str | None) -> None:
        headers = {
            hdrs.CONTENT_TYPE: "video/mp4",
            # A signed URL is a short-lived credential: shared caches keep nothing.
            hdrs.CACHE_CONTROL: "no-store" if etag is None else "private",
        }
        super().__init__(headers=headers)
        self.path = path
        self.record_etag = etag

    def _precondition(self, headers: CIMultiDictProxy[str]) -> int | None:
        """412 or 304 when If-Match / If-None-Match decide the answer; dates are not validators here."""
        etag = self.record_etag
        if_match = headers.get(hdrs.IF_MATCH)
        if if_match is not None and not (
            etag is not None and any(t == "*" or t == etag for t in _tags(if_match))
        ):
            return 412
        if_none_match = headers.get(hdrs.IF_NONE_MATCH)
        if (
            if_none_match is not None
            and etag is not None
            and any(t == "*" or _weak_equal(t, etag) for t in _tags(if_none_match))
        ):
            return 304
        return None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        status = self._precondition(request.headers)
        if status is not None:
            if status == 304 and self.record_etag is not None:
                self.headers[hdrs.ETAG] = self.record_etag
            return await self._empty(request, status)
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError:  # gone since it was resolved (deleted), or swapped for a link
            return await self._not_found(request)
        waited = False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return await self._not_found(request)
            answer = self._answer(request, st.st_size)
            if answer is None:
                return await self._empty(request, 416)
            offset, count = answer
            writer = await super().prepare(request)
            if count == 0 or request.method == hdrs.METH_HEAD:
                return writer
            waited = await _sendfile(request, fd, offset, count)
            await super().write_eof()
            return writer
        finally:
            _close(fd, waited)

    def _answer(self, request: web.BaseRequest, size: int) -> tuple[int, int] | None:
        """Status and headers for the whole file or the range asked; (offset, count) to send, None
        for a 416."""
        header = request.headers.get(hdrs.RANGE)
        if_range = request.headers.get(hdrs.IF_RANGE)
        if if_range is not None and (self.record_etag is None or if_range.strip() != self.record_etag):
            header = None  # only the strong MD5 ETag validates a range; anything else gets the whole file
        try:
            byte_range = parse_range(header, size)
        except RangeNotSatisfiable:
            self.headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
            return None
        offset, count = 0, size
        if byte_range is not None:
            offset, count = byte_range.start, byte_range.length
            self.set_status(206)
            self.headers[hdrs.CONTENT_RANGE] = byte_range.content_range(size)
        self.headers[hdrs.ACCEPT_RANGES] = "bytes"
        if self.record_etag is not None:
            self.headers[hdrs.ETAG] = self.record_etag
        self.content_length = count
        return offset, count

    async def _not_found(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        self.headers.popall(hdrs.CONTENT_TYPE, None)
        return await self._empty(request, 404)

    async def _empty(self, request: web.BaseRequest, status: int) -> AbstractStreamWriter | None:
        self.set_status(status)
        self.content_length = 0
        return await super().prepare(request)


async def _sendfile(request: web.BaseRequest, fd: int, offset: int, count: int) -> bool:
    """Send `count` bytes of `fd` from `offset`: one `os.sendfile` straight away on a plain TCP socket
    whose transport holds nothing unsent (the headers went out, so nothing is overtaken), then
    `loop.sendfile` for what the socket's buffer did not take. For 1 MiB to a client that keeps up
    the first call is all, where `loop.sendfile` would pause and resume reading around it and wait a
    loop turn for the socket to be writable again. True when it had to wait."""
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the client went away")
    sock = transport.get_extra_info("socket")
    plain = sock is not None and transport.get_extra_info("sslcontext") is None
    if plain and transport.get_write_buffer_size() == 0:
        try:
            sent = os.sendfile(sock.fileno(), fd, offset, count)
        except BlockingIOError:
            sent = 0
        offset, count = offset + sent, count - sent
    if count <= 0:
        return False
    with open(fd, "rb", buffering=0, closefd=False) as file:  # noqa: ASYNC230 - wraps the open descriptor
        await asyncio.get_running_loop().sendfile(transport, file, offset, count)
    return True


def _close(fd: int, waited: bool) -> None:
    """Close on the loop, except after a wait (a slow client, a whole file) the last descriptor of a
    file deleted meanwhile: that close frees its blocks, which for a multi-GiB record takes a while."""
    deleted = False
    if waited:
        with contextlib.suppress(OSError):
            deleted = os.fstat(fd).st_nlink == 0
    if not deleted:
        os.close(fd)
        return
    closing = asyncio.get_running_loop().run_in_executor(None, os.close, fd)
    _CLOSING.add(closing)
    closing.add_done_callback(_CLOSING.discard)
