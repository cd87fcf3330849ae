"""`RecordFileResponse` (agent.ops.file_response) on a real aiohttp server: one range, 416 with the size,
validators from the record's MD5 only, HEAD, and files that changed under it (deleted, a link, a
FIFO, deleted while being sent)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from agent.ops.file_response import RecordFileResponse

pytestmark = pytest.mark.anyio

DATA = bytes(range(256)) * 4096  # 1 MiB
ETAG = f'"{hashlib.md5(DATA).hexdigest()}"'  # noqa: S324 - the record's checksum
BIG = 32 * 1024 * 1024  # more than a loopback socket's buffer takes at once


@dataclass
class Served:
    url: str
    path: Path
    etag: str | None  # None: the file is still growing


@pytest.fixture(params=["completed", "growing"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    path = tmp_path / "record.mp4"
    path.write_bytes(DATA)
    etag = ETAG if request.param == "completed" else None

    async def media(_request: web.Request) -> RecordFileResponse:
        return RecordFileResponse(path, etag)

    app = web.Application()
    app.router.add_get("/media", media)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Served(f"http://127.0.0.1:{port}/media", path, etag)
    finally:
        await runner.cleanup()


async def get(served: Served, method: str = "GET", **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.request(
            method, served.url, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )


async def test_the_whole_file_with_the_records_headers(served: Served) -> None:
    answer = await get(served)
    assert answer.status_code == 200 and answer.content == DATA
    assert answer.headers["content-length"] == str(len(DATA))
    assert answer.headers["content-type"] == "video/mp4"
    assert answer.headers["accept-ranges"] == "bytes"
    assert "last-modified" not in answer.headers
    if served.etag is None:
        assert answer.headers["cache-control"] == "no-store" and "etag" not in answer.headers
    else:
        assert answer.headers["cache-control"] == "private" and answer.headers["etag"] == ETAG


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=100-1099", 100, 1099),
        ("bytes=1000000-", 1000000, len(DATA) - 1),
        ("bytes=-500", len(DATA) - 500, len(DATA) - 1),
        ("bytes=0-99999999", 0, len(DATA) - 1),
        ("bytes=5-9,20-29", 5, 9),  # several ranges: the first one
    ],
)
async def test_one_range(served: Served, header: str, start: int, end: int) -> None:
    answer = await get(served, range=header)
    assert answer.status_code == 206
    assert answer.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert answer.content == DATA[start : end + 1]
    assert int(answer.headers["content-length"]) == end + 1 - start


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-5"])
async def test_a_range_header_not_understood_gets_the_whole_file(served: Served, header: str) -> None:
    answer = await get(served, range=header)
    assert answer.status_code == 200 and answer.content == DATA


@pytest.mark.parametrize(
    "header", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 10}-{len(DATA) + 20}", "bytes=-0"]
)
async def test_a_range_beyond_the_end_is_416_with_the_size(served: Served, header: str) -> None:
    answer = await get(served, range=header)
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{len(DATA)}"
    assert answer.content == b""


async def test_if_range_validates_with_the_md5_etag_only(served: Served) -> None:
    matching = await get(served, range="bytes=0-9", if_range=ETAG)
    if served.etag is None:  # a growing file has no validator: the whole file
        assert matching.status_code == 200 and matching.content == DATA
    else:
        assert matching.status_code == 206 and matching.content == DATA[:10]
    for other in ('"another"', "Tue, 01 Dec 2099 00:00:00 GMT", f"W/{ETAG}"):
        stale = await get(served, range="bytes=0-9", if_range=other)
        assert stale.status_code == 200 and stale.content == DATA, other


async def test_if_match_and_if_none_match(served: Served) -> None:
    assert (await get(served, if_match='"another"')).status_code == 412
    if served.etag is None:
        assert (await get(served, if_match="*")).status_code == 412  # no validator: no If-Match holds
        assert (await get(served, if_none_match="*")).status_code == 200
        return
    assert (await get(served, if_match=ETAG)).content == DATA
    for tag in (ETAG, f"W/{ETAG}", '"x", ' + ETAG, "*"):
        not_modified = await get(served, if_none_match=tag)
        assert not_modified.status_code == 304 and not_modified.headers["etag"] == ETAG, tag
        assert not_modified.content == b""
    assert (await get(served, if_none_match='"another"')).status_code == 200
    # Dates are no validators of a record: the file is sent.
    assert (await get(served, if_modified_since="Tue, 01 Dec 2099 00:00:00 GMT")).status_code == 200


async def test_head_has_the_length_and_no_body(served: Served) -> None:
    answer = await get(served, "HEAD")
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["content-length"] == str(len(DATA))
    ranged = await get(served, "HEAD", range="bytes=10-19")
    assert ranged.status_code == 206 and ranged.headers["content-length"] == "10"


async def test_a_file_gone_a_link_or_a_fifo_is_404(served: Served, tmp_path: Path) -> None:
    served.path.unlink()
    assert (await get(served)).status_code == 404
    secret = tmp_path / "journal.sqlite3"
    secret.write_bytes(b"camera URLs")
    served.path.symlink_to(secret)  # swapped in after the path was checked: not followed
    answer = await get(served)
    assert answer.status_code == 404 and b"camera" not in answer.content
    served.path.unlink()
    os.mkfifo(served.path)  # opening it must not block the event loop
    answer = await asyncio.wait_for(get(served), 10)
    assert answer.status_code == 404 and "video/mp4" not in answer.headers.get("content-type", "")


async def test_a_big_file_to_a_slow_client_and_deleted_while_sent(served: Served) -> None:
    """More than the socket takes at once, read slowly: the rest goes out as the client reads. The
    file deleted meanwhile is still sent whole (the open descriptor keeps it)."""
    big = os.urandom(1024 * 1024) * (BIG // (1024 * 1024))
    served.path.write_bytes(big)
    received = bytearray()
    async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", served.url) as answer:
        assert answer.status_code == 200 and answer.headers["content-length"] == str(BIG)
        async for chunk in answer.aiter_bytes():
            if not received:
                served.path.unlink()
                await asyncio.sleep(0.2)  # the server's socket buffer is full by now
            received += chunk
    assert len(received) == BIG and received == big
