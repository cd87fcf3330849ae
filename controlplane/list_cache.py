"""Conditional GET for the lists pollers re-read: strong ETags from a version the database holds, and
a process-local cache of serialised rows keyed by that version.

The cache is only a cache: every request reads the version from the database first (one cheap query)
and uses an entry only under that exact key, so replicas never disagree and none serves a list
another one changed. An entry may hold rows a little newer than its key (the rows are read after the
version, in another statement); that costs a client one extra full answer, never a stale 304: once a
newer version is committed no request reads the older key again."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import list_versions

# Part of every ETag: a release that changes the JSON of a list must not answer 304 to a client
# holding the previous release's body of the same version.
SHAPE = "1"


@dataclass(frozen=True)
class Page:
    """One answer of a list: the ETag, and the JSON body (None: 304, the client's copy is current)."""

    etag: str
    body: bytes | None


class ListCache:
    """The serialised rows (one JSON value each) of the last versions of a list. Two: the current one
    and the one requests still in flight may ask for (a list of 1,000 sources is ~300 KB)."""

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Sequence[bytes]] = OrderedDict()

    def get(self, key: Hashable) -> Sequence[bytes] | None:
        rows = self._entries.get(key)
        if rows is not None:
            self._entries.move_to_end(key)
        return rows

    def put(self, key: Hashable, rows: Sequence[bytes]) -> None:
        self._entries[key] = rows
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


def etag(*parts: object) -> str:
    """A strong ETag over the parts (the same on every replica: no process-specific hash)."""
    digest = hashlib.sha256("\x1f".join(map(str, (SHAPE, *parts))).encode()).hexdigest()
    return f'"{digest[:32]}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or any listed tag equal by weak comparison."""
    if not if_none_match:
        return False
    for item in if_none_match.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/") == tag:
            return True
    return False


def json_array(rows: Sequence[bytes], offset: int, limit: int | None) -> bytes:
    end = None if limit is None else offset + limit
    return b"[" + b",".join(rows[offset:end]) + b"]"


async def current_tag(session: AsyncSession, tables: Sequence[str], *params: object) -> str:
    """The ETag of a list that reads `tables` (and depends on nothing else), for these parameters.
    Read before the list itself: the list may then be newer than its tag, never older."""
    return etag(*tables, *await list_versions.read(session, tables), *params)
