"""Just enough of fragmented MP4 to append one ffmpeg run's fragments to another's file.

A part written by ffmpeg (`-movflags +frag_keyframe+empty_moov+default_base_moof`) is `ftyp`,
`moov` (no samples), then `moof`+`mdat` pairs, and at a clean exit an `mfra` index. A later part of
the same camera has the same `moov` (same codec parameters); its fragments continue the first file
once each `moof` gets the next sequence number (`mfhd`) and a decode time (`tfdt`) that follows the
last fragment already there. Only fixed-size fields are rewritten, so a fragment keeps its size.

Only box headers and `moof` boxes (a few hundred bytes each) are read; never the media.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from agent.errors import Fmp4Error

_HEADER = struct.Struct(">I4s")
_TFHD_BASE_OFFSET, _TFHD_DURATION = 0x01, 0x08
_TRUN_DATA_OFFSET, _TRUN_FIRST_FLAGS, _TRUN_DURATION = 0x01, 0x04, 0x100
_TRUN_OPTIONAL = (0x100, 0x200, 0x400, 0x800)  # duration, size, flags, composition offset


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int  # of its header in the file
    size: int  # whole box, header included
    header: int  # 8, or 16 with a 64-bit size

    @property
    def end(self) -> int:
        return self.offset + self.size


def top_boxes(f: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The complete top-level boxes between `start` and `end`; stops at a box not yet whole."""
    offset = start
    while end - offset >= 8:
        f.seek(offset)
        size, kind = _HEADER.unpack(f.read(8))
        header = 8
        if size == 1:
            if end - offset < 16:
                return
            (size,) = struct.unpack(">Q", f.read(8))
            header = 16
        if size < header or offset + size > end:  # size 0 (to the end) is a box still being written
            return
        yield Box(kind, offset, size, header)
        offset += size


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, end) of the boxes inside data[start:end]."""
    offset = start
    while end - offset >= 8:
        size, kind = _HEADER.unpack_from(data, offset)
        if size < 8 or offset + size > end:
            raise Fmp4Error(f"bad {kind!r} box inside a fragment")
        yield kind, offset, offset + size
        offset += size


@dataclass
class Fragment:
    """One `moof`: its bytes (rewritable in place) and each track's decode time and span."""

    data: bytearray
    sequence: int = 0
    times: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # track: (tfdt, duration, tfdt pos)

    @classmethod
    def parse(cls, data: bytes) -> Fragment:
        frag = cls(bytearray(data))
        for kind, start, end in _children(data, 8, len(data)):
            if kind == b"mfhd":
                (frag.sequence,) = struct.unpack_from(">I", data, start + 12)
            elif kind == b"traf":
                frag._traf(start, end)
        return frag

    def _traf(self, start: int, end: int) -> None:
        data = self.data
        track, default_duration, tfdt, tfdt_pos, total = 0, 0, 0, -1, 0
        for kind, box, _box_end in _children(bytes(data), start + 8, end):
            (flags,) = struct.unpack_from(">I", data, box + 8)
            version, flags = flags >> 24, flags & 0xFFFFFF
            if kind == b"tfhd":
                if flags & _TFHD_BASE_OFFSET:
                    raise Fmp4Error("fragments with absolute data offsets cannot move")
                (track,) = struct.unpack_from(">I", data, box + 12)
                position = box + 16 + (8 if flags & _TFHD_BASE_OFFSET else 0)
                position += 4 if flags & 0x02 else 0  # sample description index
                if flags & _TFHD_DURATION:
                    (default_duration,) = struct.unpack_from(">I", data, position)
            elif kind == b"tfdt":
                tfdt_pos = box + 12
                tfdt = struct.unpack_from(">Q" if version == 1 else ">I", data, tfdt_pos)[0]
                if version != 1:
                    tfdt_pos = -tfdt_pos  # a 32-bit field: remembered by sign
            elif kind == b"trun":
                total += _trun_duration(data, box, flags, default_duration)
        if tfdt_pos == -1:
            raise Fmp4Error("a fragment without a decode time (tfdt)")
        self.times[track] = (tfdt, total, tfdt_pos)

    def shifted(self, sequence: int, shifts: dict[int, int]) -> bytes:
        """The fragment renumbered `sequence`, each track's decode time moved by `shifts[track]`."""
        data = self.data
        for kind, start, _end in _children(bytes(data), 8, len(data)):
            if kind == b"mfhd":
                struct.pack_into(">I", data, start + 12, sequence)
        for track, (tfdt, _duration, pos) in self.times.items():
            value = tfdt + shifts.get(track, 0)
            if value < 0:
                raise Fmp4Error("a decode time would become negative")
            if pos >= 0:
                struct.pack_into(">Q", data, pos, value)
            elif value < 1 << 32:
                struct.pack_into(">I", data, -pos, value)
            else:
                raise Fmp4Error("a 32-bit decode time overflows")
        return bytes(data)

    def ends(self) -> dict[int, int]:
        """Each track's decode time just after this fragment."""
        return {track: tfdt + duration for track, (tfdt, duration, _pos) in self.times.items()}


def _trun_duration(data: bytearray, box: int, flags: int, default_duration: int) -> int:
    (count,) = struct.unpack_from(">I", data, box + 12)
    if not flags & _TRUN_DURATION:
        return count * default_duration
    position = box + 16 + (4 if flags & _TRUN_DATA_OFFSET else 0) + (4 if flags & _TRUN_FIRST_FLAGS else 0)
    stride = 4 * sum(1 for bit in _TRUN_OPTIONAL if flags & bit)
    return sum(struct.unpack_from(">I", data, position + i * stride)[0] for i in range(count))


def read_box(f: BinaryIO, box: Box) -> bytes:
    f.seek(box.offset)
    data = f.read(box.size)
    if len(data) != box.size:
        raise Fmp4Error(f"short read of a {box.type!r} box")
    return data


def header_of(f: BinaryIO, end: int) -> tuple[Box, Box] | None:
    """The `ftyp` and `moov` a fragmented part starts with (None while they are not written yet)."""
    boxes = top_boxes(f, 0, end)
    first, second = next(boxes, None), next(boxes, None)
    if first is None or second is None:
        return None
    if first.type != b"ftyp" or second.type != b"moov":
        raise Fmp4Error(f"not a fragmented MP4 (starts with {first.type!r}, {second.type!r})")
    return first, second


def comparable_moov(moov: bytes) -> bytes:
    """The `moov` without the header's times (`mvhd`, `tkhd`, `mdhd` creation/modification): what
    must be equal for fragments of one file to continue another."""
    data = bytearray(moov)

    def blank(start: int, end: int) -> None:
        for kind, box, box_end in _children(bytes(data), start, end):
            if kind in (b"mvhd", b"tkhd", b"mdhd"):
                version = data[box + 8]
                width = 8 if version == 1 else 4
                data[box + 12 : box + 12 + 2 * width] = bytes(2 * width)
            elif kind in (b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"udta"):
                blank(box + 8, box_end)

    blank(8, len(data))
    return bytes(data)


def timescales(moov: bytes) -> dict[int, int]:
    """track id → the media timescale of its `mdhd`."""
    scales: dict[int, int] = {}
    position = 8
    while position + 8 <= len(moov):
        size, kind = struct.unpack_from(">I4s", moov, position)
        if kind == b"trak":
            track, scale = 0, 0
            inner = moov[position : position + size]
            tkhd, mdhd = inner.find(b"tkhd"), inner.find(b"mdhd")
            if tkhd > 0:
                version = inner[tkhd + 4]
                track = struct.unpack_from(">I", inner, tkhd + 4 + 4 + (16 if version == 1 else 8))[0]
            if mdhd > 0:
                version = inner[mdhd + 4]
                scale = struct.unpack_from(">I", inner, mdhd + 4 + 4 + (16 if version == 1 else 8))[0]
            scales[track] = scale
        position += max(size, 8)
    return scales
