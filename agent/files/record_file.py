"""A record's one file, hashed as it grows, so that a stop has nothing left to join, read or write.

The file is the record's first part, as ffmpeg wrote it. After a reconnect the next ffmpeg appends
to the same file itself (`begin_in_place`): it is told the next fragment's number and the media
time to continue from, so no byte it records is written twice; its own header (`ftyp`+`moov`, a
kilobyte or two) is turned into a `free` box in place, which every player skips. Where that cannot
be (a dead agent's ffmpeg still writing, a template that is not the default), the next ffmpeg writes
a part of its own whose fragments are appended here as they come, renumbered. Either way the file
reads as one recording (the media time continues where the last fragment ended: the gap is in the
record's `gaps`, not a frozen picture in the file). Each byte is hashed once, when it is complete,
never re-read; at stop only the last fragment (and ffmpeg's `mfra` index of a one-part record) is
left to hash.

Everything here blocks on disk I/O: call it from a worker thread.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from agent.errors import Fmp4Error, NoSpaceError
from agent.files.block_io import punch_out, write_all
from agent.files.fmp4 import Box, Fragment, comparable_moov, header_of, read_box, timescales, top_boxes

log = logging.getLogger(__name__)

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Sealed:
    md5: str
    size: int
    duration_s: float | None  # from the fragments' decode times (None: no timescale known)


@dataclass
class _Source:
    """A later part being appended: how far it has been read, how its times shift."""

    path: Path
    offset: int = 0  # bytes of the part consumed
    skip: int = 0  # fragments already in the record's file (after an agent restart)
    trim_s: float = 0.0  # media at its head that the record holds already: its fragments are dropped
    origin: int | None = None  # the decode time of its first fragment (of the first track)
    shifts: dict[int, int] | None = None
    appended_s: float = 0.0  # media of it in the record's file


@dataclass(frozen=True)
class InPlace:
    """How the next ffmpeg continues the record's file itself (`RecordFile.begin_in_place`)."""

    offset: int  # where its bytes begin in the file
    fragment_index: int  # the number of its first fragment (`mfhd`), after the file's last one
    ts_offset_s: float  # the media time its first fragment starts at: where the file's media ends


class CodecChanged(Fmp4Error):
    """A later ffmpeg writing the file in place opened the camera with other codec parameters: its
    fragments cannot follow the file's header."""


@dataclass
class RecordFile:
    path: Path
    _md5: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    hashed: int = 0  # bytes of `path` hashed: every whole box up to the last whole fragment
    fragments: int = 0  # moof+mdat pairs in the file
    _moov: bytes | None = None
    _timescales: dict[int, int] = field(default_factory=dict)
    _starts: dict[int, int] = field(default_factory=dict)  # each track's first decode time
    _ends: dict[int, int] = field(default_factory=dict)  # each track's decode time after the last fragment
    # Each track's first sample's presentation lead over its decode time (B-frames): a later ffmpeg's
    # first decode time comes that much before the media time it is told to start at.
    _leads: dict[int, int] = field(default_factory=dict)
    _shown_ends: dict[int, int] = field(default_factory=dict)  # each track's last-shown sample's end
    _source: _Source | None = None  # None: ffmpeg itself writes `path`
    _abandoned: bool = False  # the last part's rest was dropped for want of space: nothing follows
    _refused_at: int | None = None  # an in-place ffmpeg's header did not match: nothing beyond is taken

    # -- the first part, written by ffmpeg ------------------------------------------------------------

    def follow(self) -> None:
        """Hash what ffmpeg appended to the file since the last call (whole fragments only)."""
        if self._source is not None:
            self._pump()
            return
        if self._abandoned or self._refused_at is not None:
            return  # nothing but this module writes the file any more
        with self.path.open("r+b") as f:  # written too: a later ffmpeg's header becomes `free`
            end = os.fstat(f.fileno()).st_size
            if self._moov is None:
                header = header_of(f, end)
                if header is None:
                    return
                for box in header:
                    self._hash(read_box(f, box))
                self._learn_moov(read_box(f, header[1]))
            self._walk(f, end)

    def _walk(self, f: BinaryIO, end: int) -> None:
        """The whole boxes after what is hashed: fragments, and the header of an ffmpeg that went
        on writing the file in place (blanked to a `free` box before it is hashed)."""
        boxes = list(top_boxes(f, self.hashed, end))
        index = 0
        while index < len(boxes):
            box = boxes[index]
            after = boxes[index + 1] if index + 1 < len(boxes) else None
            if box.type == b"moof":
                if after is None or after.type != b"mdat":
                    return  # its data is not whole yet
                frag = Fragment.parse(read_box(f, box))
                self._note(frag)
                self._hash(bytes(frag.data))
                self._hash_range(f, after.offset, after.end)
            elif box.type == b"ftyp":
                if after is None:
                    return
                self._blank_header(f, box, after)
            elif box.type == b"free":  # blanked before an agent restart
                self._hash_range(f, box.offset, box.end)
                index += 1
                continue
            elif box.type == b"mfra":
                return  # ffmpeg's closing index: kept only as the end of a one-part file (seal)
            else:
                raise Fmp4Error(f"unexpected {box.type!r} box between fragments")
            index += 2

    def _blank_header(self, f: BinaryIO, ftyp: Box, moov: Box) -> None:
        """An in-place ffmpeg's `ftyp`+`moov`: the same codec parameters as the file's own header,
        then one `free` box (only its 8-byte box header is rewritten), so the file has one header."""
        if moov.type != b"moov" or comparable_moov(read_box(f, moov)) != self._moov:
            self._refused_at = ftyp.offset
            raise CodecChanged(f"the camera came back with other codec parameters (at byte {ftyp.offset})")
        f.seek(ftyp.offset)  # through the file object: its read buffer must not keep the old bytes
        f.write(struct.pack(">I4s", moov.end - ftyp.offset, b"free"))
        f.flush()
        self._hash_range(f, ftyp.offset, moov.end)

    def begin_in_place(self) -> InPlace | None:
        """The next ffmpeg appends to the file itself, from its last whole fragment on (what follows
        it, a fragment cut short by a kill or by a full disk, is cut off). None when it cannot: no
        header yet, a codec that changed before, or the last part not wholly taken in (no room)."""
        self.follow()  # the previous ffmpeg has exited: its last whole fragments
        if self._moov is None or self._abandoned or self._refused_at is not None or not self._timescales:
            return None
        if self._source is not None:
            if self._source.path.exists() and self._source_rest():
                return None  # fragments wait for room: the next part is appended after them
            self._source.path.unlink(missing_ok=True)
            self._source = None
        os.truncate(self.path, self.hashed)
        media_end = max(
            (
                max(self._ends[track] + self._leads.get(track, 0), self._shown_ends.get(track, 0)) / scale
                for track, scale in self._timescales.items()
                if scale and track in self._ends
            ),
            default=0.0,
        )
        # Rounded up to the microsecond (ffmpeg's unit): no track starts before its last fragment ended.
        return InPlace(self.hashed, self.fragments + 1, math.ceil(media_end * 1_000_000) / 1_000_000)

    def _source_rest(self) -> bool:
        """Whether the part being appended holds whole fragments not in the file yet (its closing
        `mfra` index is no fragment)."""
        assert self._source is not None
        with self._source.path.open("rb") as src:
            try:
                return bool(_pairs(src, self._source.offset, os.fstat(src.fileno()).st_size))
            except Fmp4Error:
                return True

    # -- later parts, appended -------------------------------------------------------------------------

    def append_from(self, part: Path, skip: int = 0, trim_s: float = 0.0) -> None:
        """From now on the record's file takes the fragments of `part` (the next ffmpeg's file);
        `trim_s`: the seconds at its head that overlap the record (to the nearest fragment: those
        mostly inside are dropped); `skip`: that many of the rest are in it already (an agent
        restart while appending)."""
        self.follow()  # the previous source, to its last whole fragment (its ffmpeg has exited)
        if self._moov is None:
            raise Fmp4Error("the first part has no header: nothing to append to")
        if self._source is not None:
            self._source.path.unlink(missing_ok=True)  # all of it is in the record's file now
        else:
            with self.path.open("r+b") as f:
                f.truncate(self.hashed)  # ffmpeg's mfra index, and a fragment cut short by a kill
        self._source = _Source(part, skip=skip, trim_s=trim_s)

    @classmethod
    def recover(
        cls, parts: list[Path], bases: dict[str, int], trims: dict[str, float] | None = None
    ) -> RecordFile:
        """The record's file as an agent that restarted finds it: the first part, hashed again
        (once, at start-up), and the later parts that still exist appended where they were left."""
        record = cls(parts[0])
        record.follow()
        for part in parts[1:]:
            if not part.exists():
                continue  # wholly appended, then removed
            base = bases.get(str(part))
            skip = max(0, record.fragments - base) if base is not None else 0
            record.append_from(part, skip=skip, trim_s=(trims or {}).get(str(part), 0.0))
            record.follow()
        return record

    @property
    def source(self) -> Path | None:
        """The later part being appended now (None: the first part is still the one written)."""
        return self._source.path if self._source is not None else None

    def _pump(self) -> None:
        source = self._source
        assert source is not None
        try:
            src = source.path.open("r+b")  # written to as well: appended fragments are punched out
        except FileNotFoundError:
            return
        out = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        with src:
            try:
                end = os.fstat(src.fileno()).st_size
                if source.offset == 0:
                    header = header_of(src, end)
                    if header is None:
                        return
                    if comparable_moov(read_box(src, header[1])) != self._moov:
                        raise Fmp4Error(f"{source.path.name} has other codec parameters than the record")
                    source.offset = header[1].end
                for moof, mdat in _pairs(src, source.offset, end):
                    frag = Fragment.parse(read_box(src, moof))
                    if source.trim_s and self._overlaps(source, frag):
                        source.offset = mdat.end
                        continue
                    if source.skip:
                        source.skip -= 1
                        source.shifts = {
                            t: self._ends[t] - e for t, e in frag.ends().items() if t in self._ends
                        }
                        source.offset = mdat.end
                        continue
                    if source.shifts is None:  # its first fragment follows the record's last one
                        source.shifts = {
                            t: self._ends.get(t, tfdt) - tfdt for t, (tfdt, _, _) in frag.times.items()
                        }
                    data = frag.shifted(self.fragments + 1, source.shifts)
                    self._append(out, data, src, mdat)
                    source.offset = mdat.end
                    source.appended_s += _seconds(frag, self._timescales)
                    punch_out(src.fileno(), mdat)
            finally:
                os.close(out)

    def _append(self, out: int, moof: bytes, src: BinaryIO, mdat: Box) -> None:
        """One fragment at the end of the record's file, whole or not at all: a disk that fills
        half-way leaves the file as it was (a player, the MD5 and a restart see whole fragments)."""
        chunks = [moof]
        try:
            write_all(out, moof)
            src.seek(mdat.offset)
            remaining = mdat.size
            while remaining:
                chunk = src.read(min(_COPY_CHUNK, remaining))
                if not chunk:
                    raise Fmp4Error(f"{self._source_name()} shrank while it was appended")
                write_all(out, chunk)
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError as exc:
            os.ftruncate(out, self.hashed)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpaceError(
                    exc.errno, f"no room for a fragment of {len(moof) + mdat.size} bytes"
                ) from exc
            raise
        # Hashed once it is written whole: a fragment that did not fit is tried again, hashed once.
        for chunk in chunks:
            self._hash(chunk)
        self._note(Fragment.parse(moof))

    def abandon_source(self) -> float:
        """Give up on the rest of the part being appended (no space for it at stop: a stop never
        needs space). Returns the seconds of media that it held beyond what was appended."""
        source = self._source
        if source is None:
            return 0.0
        dropped = 0.0
        try:
            with source.path.open("rb") as src:
                end = os.fstat(src.fileno()).st_size
                start = source.offset
                if not start:
                    header = header_of(src, end)
                    start = header[1].end if header is not None else end
                for moof, _mdat in _pairs(src, start, end):
                    dropped += _seconds(Fragment.parse(read_box(src, moof)), self._timescales)
        except (FileNotFoundError, Fmp4Error):
            pass  # what it held is unknown: the gap ends where the record's file ends
        source.path.unlink(missing_ok=True)
        self._source = None
        self._abandoned = True
        return dropped

    def _source_name(self) -> str:
        return self._source.path.name if self._source is not None else "the part"

    def _overlaps(self, source: _Source, frag: Fragment) -> bool:
        """Whether this fragment of `source` is mostly inside its overlap with the record; the
        first one that is not ends the trimming."""
        track = min(t for t in frag.times if t in self._timescales) if frag.times else None
        if track is None:
            source.trim_s = 0.0
            return False
        tfdt, duration, _pos = frag.times[track]
        if source.origin is None:
            source.origin = tfdt
        middle = (tfdt - source.origin + duration / 2) / self._timescales[track]
        if middle < source.trim_s:
            return True
        source.trim_s = 0.0
        return False

    # -- the end ---------------------------------------------------------------------------------------

    def seal(self) -> Sealed:
        """Every ffmpeg has exited: hash the rest. A one-part file keeps its tail (ffmpeg's `mfra`);
        anything else after the last whole fragment (a fragment cut short) is cut off."""
        self.follow()
        with self.path.open("r+b") as f:
            size = os.fstat(f.fileno()).st_size
            tail = list(top_boxes(f, self.hashed, size))
            if self._source is None and not self._abandoned and [b.type for b in tail] == [b"mfra"]:
                self._hash_range(f, self.hashed, size)
            elif self._source is None and size != self.hashed:
                f.truncate(self.hashed)
            elif size != self.hashed:  # only this module writes the file: anything else is a bug
                raise Fmp4Error(f"{self.path.name} has {size - self.hashed} bytes nobody hashed")
        return Sealed(self._md5.hexdigest(), self.hashed, self.duration_s())

    def duration_s(self) -> float | None:
        """The media the file holds: from the first track's start to the last one's end, as players
        (and ffprobe) count it; audio may begin before the video's first keyframe."""
        spans = [
            (self._starts[track] / scale, self._ends[track] / scale)
            for track, scale in self._timescales.items()
            if track in self._ends and scale
        ]
        if not spans:
            return None
        return max(end for _, end in spans) - min(start for start, _ in spans)

    # -- internals -------------------------------------------------------------------------------------

    def _learn_moov(self, moov: bytes) -> None:
        self._moov = comparable_moov(moov)
        self._timescales = timescales(moov)

    def _note(self, frag: Fragment) -> None:
        self.fragments += 1
        for track, (tfdt, _, _) in frag.times.items():
            self._starts.setdefault(track, tfdt)
            self._leads.setdefault(track, max(0, frag.leads.get(track, 0)))
        self._shown_ends.update(frag.shown_ends)
        self._ends.update(frag.ends())

    def _hash(self, data: bytes) -> None:
        self._md5.update(data)
        self.hashed += len(data)

    def _hash_range(self, f: BinaryIO, start: int, end: int) -> None:
        f.seek(start)
        while start < end:
            chunk = f.read(min(_COPY_CHUNK, end - start))
            if not chunk:
                raise Fmp4Error("the file shrank while it was hashed")
            self._hash(chunk)
            start += len(chunk)


def _pairs(f: BinaryIO, start: int, end: int) -> list[tuple[Box, Box]]:
    """The whole `moof`+`mdat` pairs from `start`; stops at ffmpeg's closing `mfra` index."""
    pairs: list[tuple[Box, Box]] = []
    pending: Box | None = None
    for box in top_boxes(f, start, end):
        if box.type == b"moof":
            pending = box
        elif box.type == b"mdat" and pending is not None:
            pairs.append((pending, box))
            pending = None
        elif box.type == b"mfra":
            break
        else:
            raise Fmp4Error(f"unexpected {box.type!r} box between fragments")
    return pairs


def _seconds(frag: Fragment, timescales: dict[int, int]) -> float:
    """The media a fragment spans, on the first track the record knows."""
    tracks = sorted(t for t in frag.times if timescales.get(t))
    if not tracks:
        return 0.0
    _tfdt, duration, _pos = frag.times[tracks[0]]
    return duration / timescales[tracks[0]]
