"""Pulls (agent.files.pull) against a real aiohttp server that serves the file as the agent's media
route does (`RecordFileResponse`: Range, If-Range on the MD5 ETag), and one that breaks off mid-file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from agent.errors import CopyBusyError, CopyMismatchError, FileAccessError, SourceError
from agent.files.copies.model import CopyHeader
from agent.files.copies.resume import resumable
from agent.files.copies.store import CopyStore
from agent.files.pull import Progress, check_url, pull
from agent.ops.file_response import RecordFileResponse
from shared.media_urls import check_public_url

pytestmark = pytest.mark.anyio

RECORD = "3f2b6c1e-1111-4222-8333-944455556666"
DATA = bytes(range(256)) * 4000 + b"tail"  # ~1 MB
MD5 = hashlib.md5(DATA).hexdigest()  # noqa: S324 - the record's checksum
BROKEN_AFTER = 300_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CopyStore]:
    store = CopyStore(tmp_path / "dest", "dest")
    try:
        yield store
    finally:
        store.close()


class Source:
    """Serves DATA at /media/RECORD; `break_next` makes the next answer stop after BROKEN_AFTER bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.break_next = False
        self.requests: list[dict[str, str]] = []
        self.url = ""

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({k: v for k, v in request.headers.items() if k in ("Range", "If-Range")})
        if self.break_next:
            self.break_next = False
            response = web.StreamResponse(headers={"Content-Length": str(len(DATA))})
            await response.prepare(request)
            await response.write(DATA[:BROKEN_AFTER])
            assert request.transport is not None
            request.transport.close()  # the source dies mid-file
            return response
        return RecordFileResponse(self.path, f'"{MD5}"')


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[Source]:
    path = tmp_path / "source.mp4"
    path.write_bytes(DATA)
    src = Source(path)
    app = web.Application()
    app.router.add_get("/media/{record_id}", src.serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    src.url = f"http://127.0.0.1:{port}/media/{RECORD}?location=x&expires=1&signature=s"
    try:
        yield src
    finally:
        await runner.cleanup()


def header(md5: str = MD5) -> CopyHeader:
    return CopyHeader(RECORD, "backup", len(DATA), md5)


async def run(store: CopyStore, url: str, md5: str = MD5) -> list[Progress]:
    return [step async for step in pull(store, header(md5), url)]


def resume_files(store: CopyStore) -> list[Path]:
    return sorted(store.sync_root.rglob("*.resume"))


async def test_a_pull_keeps_a_verified_copy(store: CopyStore, source: Source) -> None:
    steps = await run(store, source.url)
    result = steps[-1].result
    assert result is not None and result.path.read_bytes() == DATA and result.hash_md5 == MD5
    assert (steps[-1].resumed_from, steps[-1].fetched) == (0, len(DATA))
    assert source.requests == [{}]  # no Range: the whole file
    assert not resume_files(store)
    # Again: the verified copy is there, nothing is fetched.
    again = await run(store, source.url)
    assert again[-1].result == result and len(source.requests) == 1


async def test_a_pull_the_source_broke_off_resumes_from_the_bytes_written(
    store: CopyStore, source: Source
) -> None:
    source.break_next = True
    with pytest.raises(SourceError):
        await run(store, source.url)
    (partial,) = resume_files(store)
    written = partial.stat().st_size
    assert 0 < written <= BROKEN_AFTER and partial.read_bytes() == DATA[:written]
    steps = await run(store, source.url)
    assert source.requests[-1] == {"Range": f"bytes={written}-", "If-Range": f'"{MD5}"'}
    assert (steps[-1].resumed_from, steps[-1].fetched) == (written, len(DATA) - written)
    result = steps[-1].result
    assert result is not None and result.path.read_bytes() == DATA
    assert not resume_files(store)


async def test_a_corrupt_partial_never_becomes_the_copy_and_the_next_pull_starts_over(
    store: CopyStore, source: Source
) -> None:
    source.break_next = True
    with pytest.raises(SourceError):
        await run(store, source.url)
    (partial,) = resume_files(store)
    partial.write_bytes(b"\0" * partial.stat().st_size)  # the disk lost what it held
    with pytest.raises(CopyMismatchError):
        await run(store, source.url)
    assert not resume_files(store) and not list(store.sync_root.rglob("*.mp4"))
    steps = await run(store, source.url)
    assert steps[-1].resumed_from == 0 and steps[-1].result is not None
    assert steps[-1].result.path.read_bytes() == DATA


async def test_a_source_whose_file_changed_sends_it_all_and_the_copy_starts_over(
    store: CopyStore, source: Source
) -> None:
    other = bytes(reversed(DATA))
    other_md5 = hashlib.md5(other).hexdigest()  # noqa: S324
    source.path.write_bytes(other)
    source.break_next = True
    with pytest.raises(SourceError):
        await run(store, source.url, other_md5)  # holds the start of `DATA` under other's name
    # The source's ETag is DATA's MD5, not the one asked for in If-Range: 200 with the whole file.
    steps = await run(store, source.url, other_md5)
    assert source.requests[-1]["If-Range"] == f'"{other_md5}"'
    assert steps[-1].resumed_from == 0 and steps[-1].result is not None
    assert steps[-1].result.path.read_bytes() == other


async def test_a_second_pull_of_the_same_copy_is_refused_while_one_runs(store: CopyStore) -> None:
    async with resumable(store, header()):
        with pytest.raises(CopyBusyError):
            async with resumable(store, header()):
                pass
    assert not resume_files(store)  # nothing was written: nothing is left


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/media/" + RECORD + "?signature=s",
        "http://127.0.0.1:1/metrics?signature=s",
        "http://127.0.0.1:1/media/" + RECORD + "?location=x",  # unsigned
        "http://127.0.0.1:1/media/another-record?signature=s",
        "http://user:pw@127.0.0.1:1/media/" + RECORD + "?signature=s",
        "http://127.0.0.1:1/media/" + RECORD + "/../../etc?signature=s",
    ],
)
def test_urls_other_than_a_signed_media_url_of_the_record_are_refused(url: str) -> None:
    with pytest.raises(FileAccessError):
        check_url(url, RECORD)


def test_public_urls() -> None:
    assert check_public_url("https://cams.example/agent-1/") == "https://cams.example/agent-1"
    assert check_public_url("http://10.0.0.5:8081") == "http://10.0.0.5:8081"
    for bad in (
        "ftp://x",
        "x.example:80",
        "https://u:p@x.example",
        "https://x.example/?q=1",
        "https://x:99999",
    ):
        with pytest.raises(ValueError):
            check_public_url(bad)


async def test_old_resume_files_are_removed_when_the_store_opens(tmp_path: Path, source: Source) -> None:
    first = CopyStore(tmp_path / "dest", "dest")
    source.break_next = True
    with pytest.raises(SourceError):
        await run(first, source.url)
    first.close()
    reopened = CopyStore(tmp_path / "dest", "dest")
    (partial,) = resume_files(reopened)  # a recent one is kept for the next pull
    reopened.close()
    os.utime(partial, (0, 0))  # untouched for far longer than RESUME_KEEP_S
    CopyStore(tmp_path / "dest", "dest").close()
    assert not partial.exists()
