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
_TRUN_COMPOSITION = 0x800
_SOUND_ENTRIES = (b"mp4a", b"ulaw", b"alaw", b"sowt", b"twos", b"Opus", b"ac-3")


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
    # track: its first sample's presentation time after its decode time (B-frames: a few frames)
    leads: dict[int, int] = field(default_factory=dict)
    # track: the end of its last-shown sample (decode time + composition offset + duration): with
    # B-frames later than the decode end, when the stream was cut before the frames they precede
    shown_ends: dict[int, int] = field(default_factory=dict)

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
        track, default_duration, tfdt, tfdt_pos, total, shown_end = 0, 0, 0, -1, 0, 0
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
                if not total:
                    self.leads[track] = _trun_first_lead(data, box, version, flags)
                run, shown = _trun_spans(data, box, version, flags, default_duration)
                shown_end = max(shown_end, total + shown)
                total += run
        if tfdt_pos == -1:
            raise Fmp4Error("a fragment without a decode time (tfdt)")
        self.times[track] = (tfdt, total, tfdt_pos)
        self.shown_ends[track] = tfdt + max(total, shown_end)

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


def _trun_spans(
    data: bytearray, box: int, version: int, flags: int, default_duration: int
) -> tuple[int, int]:
    """A run's decode span, and the end of its last-shown sample after the run's start."""
    (count,) = struct.unpack_from(">I", data, box + 12)
    if not flags & _TRUN_COMPOSITION:
        return _trun_duration(data, box, flags, default_duration), 0
    position = box + 16 + (4 if flags & _TRUN_DATA_OFFSET else 0) + (4 if flags & _TRUN_FIRST_FLAGS else 0)
    fields = [bit for bit in _TRUN_OPTIONAL if flags & bit]
    stride, composition = 4 * len(fields), 4 * fields.index(_TRUN_COMPOSITION)
    decode, shown = 0, 0
    for index in range(count):
        sample = position + index * stride
        duration = struct.unpack_from(">I", data, sample)[0] if flags & _TRUN_DURATION else default_duration
        (offset,) = struct.unpack_from(">i" if version == 1 else ">I", data, sample + composition)
        shown = max(shown, decode + offset + duration)
        decode += duration
    return decode, shown


def _trun_first_lead(data: bytearray, box: int, version: int, flags: int) -> int:
    """The first sample's composition time offset (0 when the run carries none)."""
    (count,) = struct.unpack_from(">I", data, box + 12)
    if not count or not flags & _TRUN_COMPOSITION:
        return 0
    position = box + 16 + (4 if flags & _TRUN_DATA_OFFSET else 0) + (4 if flags & _TRUN_FIRST_FLAGS else 0)
    position += 4 * sum(1 for bit in _TRUN_OPTIONAL[:3] if flags & bit)
    return int(struct.unpack_from(">i" if version == 1 else ">I", data, position)[0])


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
    """The `moov` without the header's times (`mvhd`, `tkhd`, `mdhd` creation/modification) and
    without edit lists (`edts`: an ffmpeg that continues a file in place writes one, in a header
    that the file blanks): what must be equal for fragments of one file to continue another."""

    def rebuilt(kind: bytes, data: bytes, start: int, end: int) -> bytes:
        body = bytearray()
        for child, box, box_end in _children(data, start, end):
            if child == b"edts":
                continue
            if child in (b"mvhd", b"tkhd", b"mdhd"):
                blanked = bytearray(data[box:box_end])
                width = 8 if blanked[8] == 1 else 4
                blanked[12 : 12 + 2 * width] = bytes(2 * width)
                body += blanked
            elif child in (b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"udta"):
                body += rebuilt(child, data, box + 8, box_end)
            elif child == b"stsd":
                body += _without_packet_sizes(data[box:box_end])
            else:
                body += data[box:box_end]
        return _HEADER.pack(len(body) + 8, kind) + bytes(body)

    return rebuilt(b"moov", moov, 8, len(moov))


def _without_packet_sizes(stsd: bytes) -> bytes:
    """A QuickTime (version 1) sound description without its samples-per-packet block: ffmpeg fills it
    in when it knows the audio's frame size by the time it writes the header, which for one camera
    depends on when the header is written (an in-place ffmpeg's comes with its first fragment)."""
    data = bytearray(stsd)
    entry = 16  # box header, version and flags, entry count
    while entry + 52 <= len(data):
        (size,) = struct.unpack_from(">I", data, entry)
        if (
            data[entry + 4 : entry + 8] in _SOUND_ENTRIES
            and struct.unpack_from(">H", data, entry + 16)[0] == 1
        ):
            data[entry + 36 : entry + 52] = bytes(16)
        if size < 8:
            break
        entry += size
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
