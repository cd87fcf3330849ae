"""The files of one record: where they live under the storage root, whether a part holds video, and
how the parts become the one final file (stream-copy join, ffprobe check, MD5).

Layout: `<root>/<safe tag>/<source_id>/<record_id>.mp4` is the final file; while recording, ffmpeg
writes `<root>/<safe tag>/<source_id>/<record_id>.parts/part-0001.mp4`, `part-0002.mp4`, … (one per
ffmpeg run). Parts are fragmented MP4, so each is playable up to its last fragment even after a
SIGKILL; the final file is a plain MP4 with its index in front (`+faststart`) for browsers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from agent.ffmpeg.process import FfmpegProcess

log = logging.getLogger(__name__)

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_TAG_MAX = 80
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_MD5_CHUNK = 1 << 20
# The join may lose a fraction of a frame per part boundary; more than this is a broken join.
_JOIN_SLACK_S = 1.0


class JoinError(Exception):
    """The parts could not be joined into a verified final file; `str()` is safe to report."""


def safe_tag(tag: str) -> str:
    """A directory name for `tag`: only [A-Za-z0-9._-], never `.`/`..`, never hidden.

    A changed name gets a short hash of the original, so "a/b" and "a_b" cannot share a directory.
    """
    cleaned = _TAG_UNSAFE.sub("_", tag)[:_TAG_MAX]
    cleaned = re.sub(r"\.{2,}", "_", cleaned)
    if not cleaned or cleaned.startswith("."):
        cleaned = "_" + cleaned
    if cleaned == tag:
        return tag
    return f"{cleaned}-{hashlib.sha256(tag.encode()).hexdigest()[:8]}"


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


def has_fragment(path: Path) -> bool:
    """Whether an (fragmented) MP4 holds video: a top-level `moof` box (or a plain `mdat`) exists.

    ffmpeg writes the header (`ftyp`+`moov`) before any data, so file size alone cannot tell a part
    that received video from one whose camera never sent a frame. Only box headers are read.
    """
    try:
        with path.open("rb") as f:
            offset, end = 0, os.fstat(f.fileno()).st_size
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


def ffprobe_bin(ffmpeg_bin: str) -> str:
    """ffprobe next to the configured ffmpeg (same install), else from PATH."""
    sibling = Path(ffmpeg_bin).with_name("ffprobe")
    return str(sibling) if os.sep in ffmpeg_bin and sibling.exists() else "ffprobe"


async def probe_duration(path: Path, ffmpeg_bin: str) -> float | None:
    """The media duration ffprobe reads from `path`, or None when it cannot read one."""
    argv = [ffprobe_bin(ffmpeg_bin), "-v", "error", "-show_entries", "format=duration", "-of", "json"]
    proc = FfmpegProcess([*argv, str(path)], name="ffprobe", stdout_pipe=True, log_level=logging.DEBUG)
    try:
        await proc.start()
        out = await proc.stdout.read()
        returncode = await proc.wait()
    finally:
        await proc.stop(grace=1.0)
    if returncode != 0:
        return None
    try:
        duration = float(json.loads(out)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None
    return duration if duration > 0 else None


async def join_parts(parts: list[Path], final: Path, ffmpeg_bin: str) -> float:
    """Join `parts` (stream copy, in order) into `final`; return its verified duration in seconds.

    Written to a temporary name and renamed, so `final` is either absent or whole.
    """
    expected = 0.0
    for part in parts:
        expected += await probe_duration(part, ffmpeg_bin) or 0.0
    tmp = final.with_name(final.name + ".tmp")
    list_file = final.with_name(final.name + ".parts.txt")
    if len(parts) == 1:
        source = ["-i", str(parts[0])]
    else:
        # The concat demuxer joins by stream copy with each part's timestamps shifted after the last.
        lines = ["ffconcat version 1.0"] + ["file '" + str(p).replace("'", "'\\''") + "'" for p in parts]
        list_file.write_text("\n".join(lines) + "\n")
        source = ["-f", "concat", "-safe", "0", "-i", str(list_file)]
    try:
        # mp4 first (what browsers expect); mov when the mp4 muxer refuses a codec (G.711 audio).
        for muxer in ("mp4", "mov"):
            tail = await _remux(ffmpeg_bin, source, tmp, muxer)
            if tail is None:
                break
        else:
            raise JoinError(f"ffmpeg could not join {len(parts)} part(s): {tail}")
        duration = await probe_duration(tmp, ffmpeg_bin)
        if duration is None or duration < expected - _JOIN_SLACK_S * len(parts):
            raise JoinError(f"joined file has duration {duration} s, the parts have {expected:.2f} s")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
        list_file.unlink(missing_ok=True)
    log.info("joined %s part(s) into %s (%.2f s; parts %.2f s)", len(parts), final, duration, expected)
    return duration


async def _remux(ffmpeg_bin: str, source: list[str], output: Path, muxer: str) -> str | None:
    """Run one stream-copy remux; None on success, else ffmpeg's last stderr line."""
    argv = [ffmpeg_bin, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *source]
    argv += ["-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", muxer, str(output)]
    proc = FfmpegProcess(argv, name="join")
    try:
        await proc.start()
        returncode = await proc.wait()
    finally:
        await proc.stop()
    tail = proc.stderr_tail()
    return None if returncode == 0 else (tail[-1] if tail else f"exit status {returncode}")


@dataclass(frozen=True)
class FinalFile:
    duration_s: float
    md5: str
    size: int


async def make_final_file(parts: list[Path], final: Path, ffmpeg_bin: str) -> FinalFile | None:
    """Join the parts that hold video into `final`, verified and hashed; None if none holds video."""
    with_video = [p for p in parts if has_fragment(p)]
    if not with_video:
        return None
    duration = await join_parts(with_video, final, ffmpeg_bin)
    md5, size = await asyncio.to_thread(md5_and_size, final)  # a long file takes seconds to read
    return FinalFile(duration, md5, size)


def md5_and_size(path: Path) -> tuple[str, int]:
    """Hex MD5 and size of the file, read in 1 MiB chunks (blocking: run it in a thread)."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_MD5_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
