"""Sync by pull: this agent fetches a copy of another agent's record from a URL the control plane
signed on that agent's HTTP port (the source sends it with sendfile), hashing it as it is written,
and keeps it (agent.files.copies.resume) only when size and MD5 match.

Only what the control plane asked for over its authenticated RPC is dialled, and only an
http(s) URL of a record's media path carrying a signature (shared.media_urls): this is not a way
to make the agent fetch anything else. Redirects are not followed.

Resume: the bytes already in the copy's `.resume` file (a pull cut short by either agent dying,
the link, or the control plane cancelling) are hashed from the local disk and only the rest is
asked for, with `Range` and `If-Range` naming the record's MD5: a source whose file is not that
record any more answers 200 with the whole file, and the copy starts over."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from agent.errors import (
    CopyMismatchError,
    FileAccessError,
    MissingAtSourceError,
    PullRefusedError,
    SourceError,
)
from agent.files.copies.model import CopyHeader, CopyInfo
from agent.files.copies.paths import DEFAULT_EXT
from agent.files.copies.resume import ResumableCopy, keep, resumable
from agent.files.copies.store import CopyStore
from agent.metrics_registry import PULLED_BYTES, RESUMED_BYTES
from shared.media_urls import record_of_media_url

log = logging.getLogger(__name__)

WRITE_CHUNK = 4 * 1024 * 1024  # bytes gathered before one write + hash in a worker thread
PROGRESS_EVERY_S = 0.5
# Between two network reads; the whole pull has the control plane's deadline on its RPC.
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=30.0)


@dataclass(frozen=True)
class Progress:
    resumed_from: int  # bytes an earlier pull had written, not fetched again
    fetched: int  # bytes fetched by this pull so far
    result: CopyInfo | None = None  # the verified copy, on the last message only


def check_url(url: str, record_id: str) -> None:
    """FileAccessError unless `url` is a signed media URL of `record_id` (see the module docstring)."""
    named = record_of_media_url(url)
    if named is None:
        raise FileAccessError("the source URL must be an http(s) media URL signed by the control plane")
    if named != record_id:
        raise FileAccessError(f"the source URL names another record than {record_id}")


async def pull(
    store: CopyStore, header: CopyHeader, url: str, bandwidth_bps: int = 0
) -> AsyncIterator[Progress]:
    """Fetch, verify and keep the copy `header` announces; yields progress, the last with the copy.

    Raises FileAccessError (bad URL, path, id or MD5), CopyBusyError (a pull of it runs), PullRefusedError,
    MissingAtSourceError (the source has no such file), SourceError, CopyMismatchError (size or MD5
    differ: nothing is kept, the next pull starts over)."""
    check_url(url, header.record_id)
    existing = store.already_kept(header, DEFAULT_EXT)
    if existing is not None:  # a retried sync: the verified copy is there already
        yield Progress(0, 0, existing)
        return
    async with resumable(store, header) as copy:
        resumed = copy.offset
        if resumed:
            log.info("pull of record %s resumes at byte %d of %d", header.record_id, resumed, header.size)
        yield Progress(resumed, 0)
        fetched = 0
        if copy.offset < header.size:
            async for fetched in _fetch(url, copy, bandwidth_bps):
                yield Progress(copy.resumed_from, fetched)
        RESUMED_BYTES.inc(copy.resumed_from)
        info = await keep(store, copy)
        yield Progress(copy.resumed_from, fetched, info)


async def _fetch(url: str, copy: ResumableCopy, bandwidth_bps: int) -> AsyncIterator[int]:
    """Write the source's bytes after `copy.offset` into `copy`; yields the count written so far."""
    header = copy.header
    headers = {"Accept-Encoding": "identity"}
    if copy.offset:
        headers["Range"] = f"bytes={copy.offset}-"
        headers["If-Range"] = f'"{header.hash_md5.lower()}"'
    # aiohttp rather than httpx: its C parser and large reads keep up with MD5 (bench/sync.py); a
    # session per pull, as a pull is one long transfer.
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT, auto_decompress=False, read_bufsize=2**20) as session,
            session.get(url, headers=headers, allow_redirects=False) as r,
        ):
            await _check_answer(r, copy)
            async for fetched in _write_body(r, copy, bandwidth_bps):
                yield fetched
    except (TimeoutError, aiohttp.ClientError) as exc:
        # Kept: the next pull resumes from what reached the disk.
        raise SourceError(f"the source agent broke off at byte {copy.offset}: {type(exc).__name__}") from None


async def _check_answer(r: aiohttp.ClientResponse, copy: ResumableCopy) -> None:
    header = copy.header
    if r.status == 206:
        expected = f"bytes {copy.offset}-{header.size - 1}/{header.size}"
        if r.headers.get("content-range") != expected:
            raise SourceError(f"the source answered {r.headers.get('content-range')!r}, not {expected!r}")
        return
    if r.status == 200:
        if copy.offset:
            # If-Range did not match: the source's file is not the bytes we hold any more.
            log.warning("pull of record %s: the source sent the whole file; starting over", header.record_id)
            await copy.restart()
        return
    if r.status == 403:
        reason = (await r.content.read(200)).decode(errors="replace")
        raise PullRefusedError(f"the source agent refused the URL: {reason}")
    if r.status == 404:
        raise MissingAtSourceError(header.record_id)
    if r.status == 416:
        await copy.restart()  # we hold more than the source has: not its bytes
        raise CopyMismatchError(f"record {header.record_id}: the source file is shorter than announced")
    raise SourceError(f"the source agent answered {r.status}")


async def _write_body(
    r: aiohttp.ClientResponse, copy: ResumableCopy, bandwidth_bps: int
) -> AsyncIterator[int]:
    """Two buffers: the event loop fills one from the network while a worker thread writes and hashes
    the other (hashlib and write release the GIL), so MD5 and the network overlap."""
    started, fetched, last_report = time.monotonic(), 0, 0.0
    # Capped: smaller writes, so the bytes on disk (what a resume keeps) follow the rate.
    flush_at = min(WRITE_CHUNK, max(64 * 1024, bandwidth_bps // 4)) if bandwidth_bps else WRITE_CHUNK
    buffer = bytearray()
    writing: asyncio.Task[None] | None = None
    # Capped, it reads at most a write's worth at a time: one read of whatever had arrived (a whole
    # small file, from a fast link's socket buffers) went to the disk before the cap could pace it.
    chunks = r.content.iter_chunked(flush_at) if bandwidth_bps else r.content.iter_any()
    try:
        async for chunk in chunks:
            buffer += chunk
            fetched += len(chunk)
            PULLED_BYTES.inc(len(chunk))
            if len(buffer) >= flush_at:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(copy.write(buffer))
                buffer = bytearray()
            if bandwidth_bps:
                ahead = fetched / bandwidth_bps - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                yield copy.offset - copy.resumed_from
    finally:
        # Whatever was received reaches the disk, even when the source broke off: a resume keeps it.
        if writing is not None:
            await asyncio.shield(writing)
        if buffer:
            await asyncio.shield(copy.write(buffer))
    yield copy.offset - copy.resumed_from
