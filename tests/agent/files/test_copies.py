"""CopyStore and a received stream on their own: a verified copy, refused paths, a corrupted stream,
idempotency, a restart."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.errors import CopyMismatchError, CopyResumeError, FileAccessError, UnknownRecordError
from agent.files.copies.model import CopyHeader, CopyInfo
from agent.files.copies.receive import receive
from agent.files.copies.store import CopyStore
from agent.files.copies.table import CopyTable
from agent.files.layout import JOURNAL_NAME

pytestmark = pytest.mark.anyio

RECORD = "3f2b6c1e-1111-4222-8333-944455556666"
DATA = bytes(range(256)) * 4000 + b"tail"  # ~1 MB, not a multiple of the chunk size


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CopyStore]:
    store = CopyStore(tmp_path, "agent-b")
    try:
        yield store
    finally:
        store.close()


def header(path: str = "backup/cam1", data: bytes = DATA, **overrides: object) -> CopyHeader:
    fields: dict[str, object] = {
        "record_id": RECORD,
        "path": path,
        "size": len(data),
        "hash_md5": hashlib.md5(data).hexdigest(),
    }
    return CopyHeader(**(fields | overrides))  # type: ignore[arg-type]


async def chunks(data: bytes = DATA, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def sync_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sync").rglob("*") if p.is_file())


async def test_receive_keeps_a_verified_copy(store: CopyStore, tmp_path: Path) -> None:
    info = await receive(store, header(), chunks())
    expected = (tmp_path / "sync" / "backup" / "cam1" / f"{RECORD}.mp4").absolute()
    assert info.path == expected
    assert info.location == f"agent-b:sync/backup/cam1/{RECORD}.mp4"  # relative to the storage root
    assert info.hash_md5 == hashlib.md5(DATA).hexdigest()
    assert info.size == len(DATA)
    assert expected.read_bytes() == DATA
    assert sync_files(tmp_path) == [expected]  # no partial left behind
    assert store.resolve(RECORD, info.location) == info
    assert store.find(RECORD, "backup/cam1") == info


async def test_empty_path_and_extension(store: CopyStore, tmp_path: Path) -> None:
    info = await receive(store, header(path=""), chunks(), ext=".mkv")
    assert info.path == (tmp_path / "sync" / f"{RECORD}.mkv").absolute()


@pytest.mark.parametrize(
    "path", ["../escape", "a/../../escape", "/etc", "a/./b/..", "a b", "a\\b", "..", "a/\x00"]
)
async def test_bad_paths_are_refused(store: CopyStore, tmp_path: Path, path: str) -> None:
    with pytest.raises(FileAccessError):
        await receive(store, header(path=path), chunks())
    assert sync_files(tmp_path) == []
    assert not (tmp_path / "escape").exists()


async def test_bad_record_id_is_refused(store: CopyStore) -> None:
    with pytest.raises(FileAccessError):
        await receive(store, header(record_id="../x"), chunks())


async def test_symlink_out_of_sync_root_is_refused(store: CopyStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "sync" / "link").symlink_to(outside)
    with pytest.raises(FileAccessError):
        await receive(store, header(path="link"), chunks())
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"hash_md5": "0" * 32},  # wrong MD5
        {"size": len(DATA) + 1},  # stream shorter than announced
        {"size": len(DATA) - 1},  # stream longer than announced
    ],
)
async def test_mismatch_leaves_nothing(store: CopyStore, tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(CopyMismatchError) as caught:
        await receive(store, header(**bad), chunks())
    assert sync_files(tmp_path) == []
    assert store.find(RECORD, "backup/cam1") is None
    if "hash_md5" in bad:
        assert hashlib.md5(DATA).hexdigest() in str(caught.value) and "0" * 32 in str(caught.value)


async def test_broken_stream_leaves_nothing(store: CopyStore, tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield DATA[:1000]
        raise ConnectionError("sender went away")

    with pytest.raises(ConnectionError):
        await receive(store, header(), broken())
    assert sync_files(tmp_path) == []


async def test_resume_offset_is_refused(store: CopyStore, tmp_path: Path) -> None:
    with pytest.raises(CopyResumeError):
        await receive(store, header(resume_offset=10), chunks())
    assert sync_files(tmp_path) == []


async def test_receive_twice_is_idempotent(store: CopyStore) -> None:
    first = await receive(store, header(), chunks())
    mtime = first.path.stat().st_mtime_ns
    second = await receive(store, header(), chunks())
    assert second == first
    assert first.path.stat().st_mtime_ns == mtime  # not rewritten
    assert store.already_kept(header()) == first


async def test_a_different_copy_replaces_the_old_one(store: CopyStore) -> None:
    await receive(store, header(), chunks())
    other = DATA[::-1]
    info = await receive(store, header(data=other), chunks(other))
    assert info.path.read_bytes() == other
    assert store.resolve(RECORD, info.location).hash_md5 == hashlib.md5(other).hexdigest()


async def test_delete_removes_file_and_row(store: CopyStore) -> None:
    info = await receive(store, header(), chunks())
    await store.delete(RECORD, info.location)
    assert not info.path.exists()
    with pytest.raises(UnknownRecordError):
        store.resolve(RECORD, info.location)
    with pytest.raises(UnknownRecordError):
        await store.delete(RECORD, info.location)


async def test_resolve_unknown(store: CopyStore) -> None:
    info = await receive(store, header(), chunks())
    with pytest.raises(UnknownRecordError):
        store.resolve("other-record", info.location)
    with pytest.raises(UnknownRecordError):
        store.resolve(RECORD, "agent-b:/etc/passwd")


async def test_store_survives_a_restart(tmp_path: Path) -> None:
    store = CopyStore(tmp_path, "agent-b")
    info = await receive(store, header(), chunks())
    store.close()
    stale = info.path.with_name(f"{info.path.name}.dead.partial")
    stale.write_bytes(b"half")  # left by a crash mid-copy
    reopened = CopyStore(tmp_path, "agent-b")
    try:
        assert reopened.resolve(RECORD, info.location) == info
        assert reopened.find(RECORD, "backup/cam1") == info
        assert not stale.exists()
    finally:
        reopened.close()


async def test_a_copy_registered_under_its_absolute_location_is_still_found(tmp_path: Path) -> None:
    """Copies kept before locations were relative to the storage root keep working (issue 21)."""
    target = (tmp_path / "sync" / "backup" / "cam1" / f"{RECORD}.mp4").absolute()
    target.parent.mkdir(parents=True)
    target.write_bytes(DATA)
    older = f"agent-b:{target}"
    table = CopyTable(tmp_path / JOURNAL_NAME)
    table.put(CopyInfo(RECORD, older, target, hashlib.md5(DATA).hexdigest(), len(DATA), 1.0))
    table.close()
    store = CopyStore(tmp_path, "agent-b")
    try:
        assert store.resolve(RECORD, older).path == target
        kept = store.already_kept(header())
        assert kept is not None and kept.location == older  # a retried sync does not copy again
        await store.delete(RECORD, older)
        assert not target.exists()
    finally:
        store.close()
