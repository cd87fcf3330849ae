"""The run of a record after a reconnect: ffmpeg writes fragmented MP4 to a pipe, and the agent is the
one writer of what it brings (issue: no recorded byte written twice).

Its fragments are held in memory until the run's video counts (`begin()`: an orphan of a dead agent
may still be writing the record's file, make before break), then each is appended to the record's
file as it arrives (`Timeline.append_stream`). A stream the record's file cannot take (the camera
now sends other codec parameters) is kept in a part file of its own, written once, and joined at
stop. Also the watchdog's view of the run (`RunSignals`): bytes, last arrival, media so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from pathlib import Path
from typing import BinaryIO

from agent.errors import StreamError
from agent.ffmpeg.process import FfmpegProcess
from agent.files.fmp4 import timescales
from agent.files.fmp4_stream import Splitter
from agent.files.record_file import fragment_seconds
from agent.recording.timeline import Timeline
from shared.media_fanout import Fragment, Init

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
# Held before the run's video counts (an orphan's handover, seconds): beyond this the oldest go.
_MAX_HELD_BYTES = 64 * 1024 * 1024
_DRAIN_S = 10.0  # after ffmpeg has exited, its last fragments are read within this


def moof_and_mdat(data: bytes) -> tuple[bytes, bytes]:
    """A fragment's `moof` and `mdat` (a `prft` in front, if any, is left out)."""
    offset = 0
    while offset + 8 <= len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        if data[offset + 4 : offset + 8] == b"moof":
            return data[offset : offset + size], data[offset + size :]
        offset += size
    raise StreamError("a fragment without a moof")


class StreamPart:
    """Reads `proc`'s stdout for the run `part` of `timeline`'s record."""

    def __init__(self, proc: FfmpegProcess, timeline: Timeline, part: Path) -> None:
        self.proc = proc
        self.part = part
        self._timeline = timeline
        self.bytes = 0  # read from the pipe
        self.last_arrival = time.time()  # when the last bytes came
        self.media_s = 0.0  # seconds of media received
        self.fragments = 0
        self._init: Init | None = None
        self._timescales: dict[int, int] = {}
        self._held: list[tuple[Fragment, float]] = []
        self._held_bytes = 0
        self._begun = False  # fragments go to the record as they come
        self._begin_task: asyncio.Task[None] | None = None
        self._own_file: BinaryIO | None = None  # the stream kept apart (the record's file refused it)
        self._task: asyncio.Task[None] | None = None

    # -- what the watchdog reads (as it reads a part file's size, mtime and duration) ---------------

    def size_and_mtime(self) -> tuple[int, float]:
        return self.bytes, self.last_arrival

    def has_video(self) -> bool:
        return self.fragments > 0

    async def duration(self) -> float | None:
        return self.media_s if self.fragments else None

    @property
    def begun(self) -> bool:
        """Whether the run's video was reported (its fragments go, or went, to the record)."""
        return self._begin_task is not None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Read the pipe in the background (ffmpeg has started)."""
        self._task = asyncio.create_task(self._read(), name=f"{self.proc.name}-pipe")

    def begin(self) -> None:
        """The run's video counts: what was held, and all that follows, goes to the record."""
        if self._begin_task is None:
            self._begin_task = asyncio.create_task(self._begin(), name=f"{self.proc.name}-begin")

    async def _begin(self) -> None:
        if self._init is None:
            return
        if not await self._timeline.open_stream(self.part, _moov_of(self._init.data)):
            own = self.part.with_suffix(".mp4")
            self._own_file = await asyncio.to_thread(_new_file, own, self._init.data)
            self._timeline.replace_part(self.part, own)
            self.part = own
            log.warning("%s: its stream is kept in %s, joined at stop", self.proc.name, own.name)
        # In order: what arrives meanwhile is held too, and taken in this loop.
        while self._held:
            fragment, arrived = self._held.pop(0)
            self._held_bytes -= len(fragment.data)
            await self._take(fragment, arrived)
        self._begun = True

    async def finish(self) -> None:
        """ffmpeg has been stopped: read its last fragments, then close."""
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=_DRAIN_S)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._begin_task is not None:
            await self._begin_task
        if self._begun:
            self._timeline.end_stream()
        if self._own_file is not None:
            self._own_file.close()
            self._own_file = None

    # -- internals ------------------------------------------------------------------------------------

    async def _read(self) -> None:
        splitter = Splitter(codecs=False)
        stdout = self.proc.stdout
        try:
            while chunk := await stdout.read(_READ_SIZE):
                self.bytes += len(chunk)
                self.last_arrival = time.time()
                for item in splitter.feed(chunk):
                    if isinstance(item, Init):
                        if self._init is not None:
                            raise StreamError("a second header in one run")
                        self._init = item
                        self._timescales = _timescales(item.data)
                    else:
                        await self._arrived(item, self.last_arrival)
        except StreamError as exc:
            log.warning("%s: unreadable output, the rest of the run is lost: %s", self.proc.name, exc)

    async def _arrived(self, fragment: Fragment, arrived: float) -> None:
        moof, _ = moof_and_mdat(fragment.data)
        self.fragments += 1
        self.media_s += fragment_seconds(moof, self._timescales)
        if self._begun:
            await self._take(fragment, arrived)
            return
        self._held.append((fragment, arrived))
        self._held_bytes += len(fragment.data)
        while self._held_bytes > _MAX_HELD_BYTES and len(self._held) > 1:
            dropped, _ = self._held.pop(0)
            self._held_bytes -= len(dropped.data)

    async def _take(self, fragment: Fragment, arrived: float) -> None:
        moof, mdat = moof_and_mdat(fragment.data)
        if self._own_file is not None:
            await asyncio.to_thread(self._own_file.write, moof + mdat)
            return
        await self._timeline.append_stream(moof, mdat, fragment.keyframe, arrived)


def _new_file(path: Path, init: bytes) -> BinaryIO:
    f = path.open("wb")
    f.write(init)
    return f


def _moov_of(init: bytes) -> bytes:
    (ftyp_size,) = struct.unpack_from(">I", init, 0)
    return init[ftyp_size:]


def _timescales(init: bytes) -> dict[int, int]:
    return timescales(_moov_of(init))
