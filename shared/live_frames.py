"""A camera session's live items (shared.media_fanout `Init` / `Fragment`) on the agent's HTTP port.

gRPC costs the agent ~250 µs of CPU for each message it streams (its completion queue wakes the
event loop from another thread for every write; bench/README.md, issue 23), which is most of what a
live viewer adds to a recorded camera. So the LiveStream call only holds the session, says why no
video comes, and hands over a ticket; the items themselves go as one HTTP answer, each a header and
its bytes, written straight to the socket by the agent's event loop (~60 µs each).

Each item: `>BdHI` (flags, the fragment's prft time or 0, the codec string's length, the data's
length), then the codec string (an init segment's only), then the data."""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable

from shared.media_fanout import Fragment, Init, Item

LIVE_PATH = "/live/{ticket}"
MEDIA_TYPE = "application/x-videorec-live"
_HEADER = struct.Struct(">BdHI")
_INIT, _KEYFRAME = 1, 2
# Larger than any fragment of a camera (agent.files.fmp4_stream refuses boxes past 64 MiB).
MAX_ITEM = 64 * 1024 * 1024


class FrameError(Exception):
    """What the agent sent is not a live item."""


def header(item: Item) -> bytes:
    """The bytes that go before `item.data` (and, for an init segment, its codec string)."""
    if isinstance(item, Init):
        codecs = item.codecs.encode()
        return _HEADER.pack(_INIT, 0.0, len(codecs), len(item.data)) + codecs
    flags = _KEYFRAME if item.keyframe else 0
    return _HEADER.pack(flags, item.wallclock or 0.0, 0, len(item.data))


async def read_item(readexactly: Callable[[int], Awaitable[bytes]]) -> Item:
    """The next item from a stream's `readexactly` (asyncio.IncompleteReadError at its end)."""
    flags, wallclock, codecs_len, size = _HEADER.unpack(await readexactly(_HEADER.size))
    if size > MAX_ITEM:
        raise FrameError(f"an item of {size} bytes")
    codecs = (await readexactly(codecs_len)).decode() if codecs_len else ""
    data = await readexactly(size)
    if flags & _INIT:
        return Init(data, codecs)
    return Fragment(data, bool(flags & _KEYFRAME), wallclock or None)
