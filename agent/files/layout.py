"""Where one record's files live under the storage root, and whether a part holds video.

Layout: `<root>/<safe tag>/<source_id>/<record_id>.mp4` is the final file; while recording, ffmpeg
writes `<root>/<safe tag>/<source_id>/<record_id>.parts/part-0001.mp4`, `part-0002.mp4`, … (one per
ffmpeg run). Parts are fragmented MP4, so each is playable up to its last fragment even after a
SIGKILL; the final file is a plain MP4 with its index in front (`+faststart`) for browsers.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from shared.names import safe_tag

JOURNAL_NAME = "journal.sqlite3"  # the agent's SQLite file: the record journal and the copies table
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def check_record_id(record_id: str) -> str:
    """Record ids become file names: refuse anything but a plain token (UUIDs pass)."""
    if not _RECORD_ID.fullmatch(record_id):
        raise ValueError(f"record id {record_id[:40]!r} is not a plain [A-Za-z0-9_-] token")
    return record_id


@dataclass(frozen=True)
class RecordPaths:
    """Where one record's files go."""

    final: Path
    parts_dir: Path

    @classmethod
    def of(cls, root: Path, tag: str, source_id: int, record_id: str) -> RecordPaths:
        check_record_id(record_id)
        return cls.for_final(root / safe_tag(tag) / str(int(source_id)) / f"{record_id}.mp4")

    @classmethod
    def for_final(cls, final: Path) -> RecordPaths:
        return cls(final=final, parts_dir=final.with_suffix(".parts"))

    def part(self, number: int) -> Path:
        return self.parts_dir / f"part-{number:04d}.mp4"


def has_fragment(path: Path, since: int = 0) -> bool:
    """Whether an (fragmented) MP4 holds video: a top-level `moof` box (or a plain `mdat`) exists
    (from byte `since` on: a later ffmpeg's in the record's file, `RecordFile.begin_in_place`).

    ffmpeg writes the header (`ftyp`+`moov`) before any data, so file size alone cannot tell a part
    that received video from one whose camera never sent a frame. Only box headers are read.
    """
    try:
        with path.open("rb") as f:
            offset, end = since, os.fstat(f.fileno()).st_size
            while end - offset >= 8:
                f.seek(offset)
                box_size, box_type = struct.unpack(">I4s", f.read(8))
                header = 8
                if box_size == 1:  # a 64-bit size follows
                    (box_size,) = struct.unpack(">Q", f.read(8))
                    header = 16
                elif box_size == 0:  # the box runs to the end of the file (an mdat being written)
                    box_size = end - offset
                if box_type == b"moof" or (box_type == b"mdat" and end - offset > header):
                    return True
                if box_size < header:
                    return False  # garbage: nothing further can be walked
                offset += box_size
    except (OSError, struct.error):
        return False
    return False
