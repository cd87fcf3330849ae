"""Fragmented MP4 read as it arrives on a pipe: the init segment, then one item per fragment.

ffmpeg (`-movflags +frag_keyframe+empty_moov+default_base_moof -write_prft wallclock`) writes
`ftyp`, `moov`, then per fragment `prft` (the wall-clock time it was made), `moof`, `mdat`. The
splitter groups them: the init segment (ftyp+moov) with its codec string (RFC 6381, what a browser's
`MediaSource.isTypeSupported` takes), and each fragment with whether it starts with a keyframe and
its `prft` time. Only box headers and the small `moov`/`moof`/`prft` boxes are parsed, never media.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from agent.errors import StreamError
from shared.media_fanout import Fragment, Init

_HEADER = struct.Struct(">I4s")
_NTP_TO_UNIX = 2_208_988_800
_MAX_BOX = 64 * 1024 * 1024  # larger than any fragment of a camera: a corrupt stream
_NON_SYNC = 0x00010000  # sample_is_non_sync_sample in the sample flags
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of the payload, end) of the boxes inside data[start:end]."""
    offset = start
    while end - offset >= 8:
        size, kind = _HEADER.unpack_from(data, offset)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        if size < header or offset + size > end:
            raise StreamError(f"bad {kind!r} box")
        yield kind, offset + header, offset + size
        offset += size


def _find(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    for kind, payload, box_end in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return payload, box_end
            found = _find(data, payload, box_end, path[1:])
            if found is not None:
                return found
    return None


def codecs_of(moov: bytes) -> str:
    """The RFC 6381 codec string of the tracks in `moov` (a whole box): the video's, e.g.
    `avc1.64001f` or `hvc1.1.6.L93.B0`, then the audio's if any, e.g. `avc1.64001f,mp4a.40.2`;
    StreamError when the video is not H.264/H.265."""
    video, audio = "", ""
    for kind, payload, end in _boxes(moov, 8, len(moov)):
        if kind != b"trak":
            continue
        stsd = _find(moov, payload, end, (b"mdia", b"minf", b"stbl", b"stsd"))
        if stsd is None:
            continue
        # stsd: version/flags (4), entry count (4), then sample entries.
        for entry, entry_payload, entry_end in _boxes(moov, stsd[0] + 8, stsd[1]):
            if entry in _VIDEO_ENTRIES and not video:
                video = _video_codec(moov, entry, entry_payload, entry_end)
            elif entry in (b"mp4a", b"Opus") and not audio:
                audio = _audio_codec(moov, entry, entry_payload, entry_end)
            elif entry not in _VIDEO_ENTRIES and entry not in (b"mp4a", b"Opus"):
                continue  # some other track (data, subtitles): not played live
            break
    if not video:
        raise StreamError("no H.264 or H.265 video track: cannot be played live")
    return f"{video},{audio}" if audio else video


_VIDEO_ENTRIES = (b"avc1", b"avc3", b"hvc1", b"hev1")


def _video_codec(moov: bytes, entry: bytes, payload: int, end: int) -> str:
    children = payload + 78  # a visual sample entry's fields before its child boxes
    if entry in (b"avc1", b"avc3"):
        found = _find(moov, children, end, (b"avcC",))
        if found is None:
            raise StreamError("an H.264 track without avcC")
        profile, compat, level = moov[found[0] + 1 : found[0] + 4]
        return f"{entry.decode()}.{profile:02x}{compat:02x}{level:02x}"
    found = _find(moov, children, end, (b"hvcC",))
    if found is None:
        raise StreamError("an H.265 track without hvcC")
    return entry.decode() + "." + _hevc_codec(moov[found[0] : found[1]])


def _audio_codec(moov: bytes, entry: bytes, payload: int, end: int) -> str:
    if entry == b"Opus":
        return "opus"
    esds = _find(moov, payload + 28, end, (b"esds",))  # an audio sample entry has 28 bytes of fields
    if esds is None:
        return "mp4a.40.2"
    data = moov[esds[0] + 4 : esds[1]]  # after version/flags: descriptors (tag, size, body)
    oti, aot = 0x40, 2
    position = 0
    while position < len(data):
        tag = data[position]
        position += 1
        size = 0
        for _ in range(4):  # a size is 1-4 bytes, 7 bits each
            byte = data[position]
            position += 1
            size = size << 7 | byte & 0x7F
            if not byte & 0x80:
                break
        if tag == 0x03:  # ES descriptor: id (2), flags (1), then its sub-descriptors
            flags = data[position + 2]
            position += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                position += 1 + data[position]
            continue
        if tag == 0x04:  # decoder config: object type, then 12 bytes, then the decoder specific info
            oti = data[position]
            position += 13
            continue
        if tag == 0x05 and size:
            aot = data[position] >> 3
            break
        position += size
    return f"mp4a.{oti:x}.{aot}" if oti == 0x40 else f"mp4a.{oti:x}"


def _hevc_codec(hvcc: bytes) -> str:
    """ISO/IEC 14496-15 annex E: profile space+idc . compatibility (bit-reversed) . tier+level . constraints."""
    first = hvcc[1]
    space = ("", "A", "B", "C")[first >> 6]
    tier = "H" if first & 0x20 else "L"
    profile = first & 0x1F
    (compat,) = struct.unpack_from(">I", hvcc, 2)
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = bytes(hvcc[6:12]).rstrip(b"\x00")
    level = hvcc[12]
    text = f"{space}{profile}.{reversed_compat:x}.{tier}{level}"
    return text + "".join(f".{b:02X}" for b in constraints)


def _first_sample_keyframe(moof: bytes) -> tuple[bool, int]:
    """Whether the first sample of the fragment's first track is a sync sample, and its sample count."""
    traf = _find(moof, 8, len(moof), (b"traf",))
    if traf is None:
        raise StreamError("a fragment without a track")
    default_flags: int | None = None
    for kind, payload, _end in _boxes(moof, traf[0], traf[1]):
        (version_flags,) = struct.unpack_from(">I", moof, payload)
        flags = version_flags & 0xFFFFFF
        if kind == b"tfhd":
            position = payload + 8
            position += 8 if flags & 0x01 else 0  # base data offset
            position += 4 if flags & 0x02 else 0  # sample description index
            position += 4 if flags & 0x08 else 0  # default duration
            position += 4 if flags & 0x10 else 0  # default size
            if flags & 0x20:
                (default_flags,) = struct.unpack_from(">I", moof, position)
        elif kind == b"trun":
            (count,) = struct.unpack_from(">I", moof, payload + 4)
            position = payload + 8 + (4 if flags & 0x01 else 0)
            if flags & 0x04:
                (sample_flags,) = struct.unpack_from(">I", moof, position)
            elif flags & 0x400:
                position += 4 if flags & 0x100 else 0
                position += 4 if flags & 0x200 else 0
                (sample_flags,) = struct.unpack_from(">I", moof, position)
            elif default_flags is not None:
                sample_flags = default_flags
            else:
                sample_flags = 0  # nothing says otherwise: every sample is a sync sample
            return not sample_flags & _NON_SYNC, count
    raise StreamError("a fragment without samples")


def _prft_unix(prft: bytes) -> float:
    # full box: version/flags (4), reference track (4), NTP timestamp (8)
    seconds, fraction = struct.unpack_from(">II", prft, 8 + 8)
    return seconds - _NTP_TO_UNIX + fraction / 2**32


class Splitter:
    """Feed the pipe's bytes; get `Init` and `Fragment` items as they complete."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._ftyp: bytes | None = None
        self._pending: list[bytes] = []  # prft, moof of the fragment being read
        self._prft: float | None = None
        self.init: Init | None = None

    def feed(self, data: bytes) -> list[Init | Fragment]:
        self._buffer += data
        out: list[Init | Fragment] = []
        while True:
            box = self._take_box()
            if box is None:
                return out
            item = self._on_box(box)
            if item is not None:
                out.append(item)

    def _take_box(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) < 8:
            return None
        size, _kind = _HEADER.unpack_from(buffer, 0)
        if size == 1:
            if len(buffer) < 16:
                return None
            (size,) = struct.unpack_from(">Q", buffer, 8)
        if size < 8 or size > _MAX_BOX:
            raise StreamError(f"a box of {size} bytes")
        if len(buffer) < size:
            return None
        box = bytes(buffer[:size])
        del buffer[:size]
        return box

    def _on_box(self, box: bytes) -> Init | Fragment | None:
        kind = box[4:8]
        if kind == b"ftyp":
            self._ftyp = box
        elif kind == b"moov":
            if self._ftyp is None:
                raise StreamError("moov before ftyp")
            self.init = Init(self._ftyp + box, codecs_of(box))
            return self.init
        elif kind == b"prft":
            self._prft = _prft_unix(box)
            self._pending = [box]
        elif kind == b"moof":
            self._pending.append(box)
        elif kind == b"mdat":
            if self.init is None or not self._pending or self._pending[-1][4:8] != b"moof":
                raise StreamError("media data outside a fragment")
            keyframe, samples = _first_sample_keyframe(self._pending[-1])
            fragment = Fragment(b"".join(self._pending) + box, keyframe, self._prft, samples)
            self._pending, self._prft = [], None
            return fragment
        # anything else (mfra at the end, free, ...) is not needed live
        return None
