"""Fan-out of one live fragmented-MP4 stream to any number of readers, each at its own pace.

The stream is an init segment (`ftyp`+`moov`) and then fragments (`prft`+`moof`+`mdat`), some of
which start with a keyframe. The fan-out keeps the init segment and the fragments since the latest
keyframe, so a new reader starts at once with a picture it can decode. A reader that falls behind by
more than `max_pending_bytes` loses what it had not read and goes on at the next keyframe: it never
blocks the writer, and the memory held for it stays bounded. Used by the agent's camera sessions and
by the control plane's relay of them (one upstream per source per replica).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass

DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024
# The fragments kept for new readers: a camera whose keyframes are far apart (or never come) must
# not grow this without bound; past it a new reader waits for the next keyframe.
MAX_GOP_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Init:
    """The init segment and its RFC 6381 codec string (e.g. `avc1.64001f`)."""

    data: bytes
    codecs: str


@dataclass(frozen=True)
class Fragment:
    data: bytes  # prft + moof + mdat
    keyframe: bool  # its first video sample is a sync sample
    wallclock: float | None = None  # the prft's time (Unix seconds) when the fragment was made
    samples: int = 0  # video samples in it


Item = Init | Fragment


class StreamEnded(Exception):
    """The fan-out was closed; `reason` says why (safe to show)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Reader:
    """One reader's queue; read with `next()`, leave with `close()` (or `Fanout.reader()`)."""

    def __init__(self, fanout: Fanout, max_pending_bytes: int) -> None:
        self._fanout = fanout
        self._max = max_pending_bytes
        self._queue: collections.deque[Item] = collections.deque()
        self._bytes = 0
        self._skipping = False  # dropped behind: waits for the next keyframe
        self._wake = asyncio.Event()
        self.dropped = 0  # fragments this reader lost by being slow
        self.closed = False

    def _offer(self, item: Item) -> None:
        if isinstance(item, Init):
            # A new init (the camera's stream restarted): what is queued belongs to the old one.
            self._queue.clear()
            self._bytes = 0
            self._skipping = True
            self._put(item)
            return
        if self._skipping and not item.keyframe:
            self.dropped += 1
            return
        if self._bytes + len(item.data) > self._max:
            self.dropped += sum(1 for queued in self._queue if isinstance(queued, Fragment)) + 1
            init = self._fanout.init
            self._queue.clear()
            self._bytes = 0
            self._skipping = True
            if init is not None:
                self._put(init)  # so a reader may restart its decoder at the keyframe
            if not item.keyframe:
                return
        self._skipping = False
        self._put(item)

    def _put(self, item: Item) -> None:
        self._queue.append(item)
        self._bytes += len(item.data)
        self._wake.set()

    def _end(self) -> None:
        self._wake.set()

    async def next(self, timeout_s: float | None = None) -> Item:
        """The next item; TimeoutError after `timeout_s` without one; StreamEnded once closed."""
        while not self._queue:
            if self._fanout.ended is not None:
                raise StreamEnded(self._fanout.ended)
            if self.closed:
                raise StreamEnded("the reader was closed")
            self._wake.clear()
            # asyncio.timeout, never wait_for: Python 3.11's wait_for drops a cancellation that
            # comes in the turn its awaitable completes, and a cancelled consumer would run on.
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
        item = self._queue.popleft()
        self._bytes -= len(item.data)
        return item

    def close(self) -> None:
        self.closed = True
        self._fanout._readers.discard(self)
        self._wake.set()


class Fanout:
    def __init__(self, max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES) -> None:
        self._max_pending = max_pending_bytes
        self._readers: set[Reader] = set()
        self.init: Init | None = None
        self.gop: list[Fragment] = []  # since the latest keyframe, for new readers
        self._gop_bytes = 0
        self.latest_at: float | None = None  # loop time of the latest fragment
        self.fragments = 0
        self.ended: str | None = None

    @property
    def reader_count(self) -> int:
        return len(self._readers)

    def set_init(self, init: Init) -> None:
        if self.init == init:
            return
        self.init = init
        self.gop, self._gop_bytes = [], 0
        for reader in self._readers:
            reader._offer(init)

    def push(self, fragment: Fragment) -> None:
        if self.init is None:
            raise ValueError("a fragment before the init segment")
        self.fragments += 1
        self.latest_at = asyncio.get_running_loop().time()
        if fragment.keyframe:
            self.gop, self._gop_bytes = [], 0
        if self.gop or fragment.keyframe:
            if self._gop_bytes + len(fragment.data) <= MAX_GOP_BYTES:
                self.gop.append(fragment)
                self._gop_bytes += len(fragment.data)
            else:
                self.gop, self._gop_bytes = [], 0
        for reader in self._readers:
            reader._offer(fragment)

    def reader(self, max_pending_bytes: int | None = None) -> Reader:
        """A new reader that starts with the init segment and the fragments since the last keyframe."""
        reader = Reader(self, max_pending_bytes or self._max_pending)
        if self.init is not None:
            reader._put(self.init)
            if self.gop:
                for fragment in self.gop:
                    reader._put(fragment)
            else:
                reader._skipping = True
        else:
            reader._skipping = True
        self._readers.add(reader)
        return reader

    @contextlib.contextmanager
    def reading(self, max_pending_bytes: int | None = None) -> collections.abc.Iterator[Reader]:
        reader = self.reader(max_pending_bytes)
        try:
            yield reader
        finally:
            reader.close()

    def forget(self) -> None:
        """The stream stopped (its reader will start again): what is kept is no longer live, so a
        new reader (a decoder that restarts, a snapshot) waits for the next init segment instead of
        showing the last pictures again as if they were new."""
        self.init = None
        self.gop, self._gop_bytes = [], 0

    def end(self, reason: str) -> None:
        """No more items: readers get what is queued, then StreamEnded(reason)."""
        self.ended = reason
        for reader in list(self._readers):
            reader._end()
