"""Cutting a stream of concatenated JPEG images (ffmpeg's `-f image2pipe -c:v mjpeg` output) into
single images, and telling whether a byte string looks like one whole JPEG.

The splitter walks the marker segments by their lengths up to the start of scan, then looks for the
end-of-image marker in the entropy-coded data, where byte stuffing (FF 00) guarantees that FF D9 is
a real marker. Walking the headers by length means an embedded EXIF thumbnail (an SOI..EOI inside
an APP1 segment) cannot end an image early, which a plain search for FF D9 would get wrong.
"""

from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
MAX_BUFFER = 16 * 1024 * 1024  # no sane frame is this large: drop it rather than grow without bound

_SOS = 0xDA
# Markers without a length field: TEM and the restart markers RST0..RST7.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def is_jpeg(data: bytes) -> bool:
    """True when `data` starts with SOI and ends with EOI: one whole image, not cut short.

    Trailing padding (NULs, CR/LF) that some HTTP cameras append after the EOI is tolerated.
    """
    return data.startswith(SOI + b"\xff") and data.rstrip(b"\x00\r\n ").endswith(EOI)


class _Where(enum.Enum):
    SEEK = "seek"  # looking for the next SOI
    HEADER = "header"  # at a marker segment before the scan
    SCAN = "scan"  # in entropy-coded data, looking for a marker


class JpegSplitter:
    """Feed it chunks of an MJPEG byte stream in any sizes; it returns the complete JPEGs found."""

    def __init__(self, max_buffer: int = MAX_BUFFER) -> None:
        self._max_buffer = max_buffer
        self._buf = bytearray()
        self._where = _Where.SEEK
        self._pos = 0  # where parsing resumes in _buf; the current image starts at _buf[0]
        self.dropped_bytes = 0  # garbage and oversized images thrown away, for diagnostics

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        images: list[bytes] = []
        while (end := self._advance()) is not None:
            images.append(bytes(self._buf[:end]))
            del self._buf[:end]
            self._where, self._pos = _Where.SEEK, 0
        if len(self._buf) > self._max_buffer:
            log.warning("no JPEG end within %s bytes: dropping them", len(self._buf))
            self._drop(len(self._buf))
        return images

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self.dropped_bytes += count
        self._where, self._pos = _Where.SEEK, 0

    def _advance(self) -> int | None:
        """Parse as far as the buffer allows; return the end offset of a complete image, if any."""
        buf = self._buf
        while True:
            if self._where is _Where.SEEK:
                start = buf.find(SOI)
                if start < 0:
                    # Keep a trailing FF: it may be the first half of the next SOI.
                    self._drop(len(buf) - 1 if buf.endswith(b"\xff") else len(buf))
                    return None
                if start:
                    self._drop(start)
                self._where, self._pos = _Where.HEADER, 2
            elif self._where is _Where.HEADER:
                pos = self._pos
                if len(buf) < pos + 2:
                    return None
                if buf[pos] != 0xFF:
                    self._resync()  # not a marker where one must be: corrupt, look for the next SOI
                    continue
                marker = buf[pos + 1]
                if marker == 0xFF:  # fill byte before a marker
                    self._pos += 1
                elif marker == EOI[1]:
                    return pos + 2
                elif marker == SOI[1]:
                    self._resync()
                elif marker in _STANDALONE:
                    self._pos += 2
                else:
                    if len(buf) < pos + 4:
                        return None
                    self._pos = pos + 2 + int.from_bytes(buf[pos + 2 : pos + 4], "big")
                    if marker == _SOS:
                        self._where = _Where.SCAN
            else:
                ff = buf.find(b"\xff", self._pos)
                if ff < 0 or ff + 1 >= len(buf):
                    self._pos = len(buf) - 1 if ff >= 0 else len(buf)
                    return None
                follower = buf[ff + 1]
                if follower == 0x00 or follower in _STANDALONE or follower == 0xFF:
                    self._pos = ff + 1 if follower == 0xFF else ff + 2  # stuffing, restart, fill
                elif follower == EOI[1]:
                    return ff + 2
                else:  # another segment (DHT, SOS of a progressive image, ...)
                    self._where, self._pos = _Where.HEADER, ff

    def _resync(self) -> None:
        self._drop(1)  # skip this SOI's first byte, so the search moves on
