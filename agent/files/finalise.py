"""How a record's parts become its one final file: a stream-copy join, checked with ffprobe, hashed.

The final file is written to a temporary name and renamed, so it is either absent or whole; the
parts stay until the journal names the verified final file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from agent.errors import JoinError
from agent.ffmpeg.commands import concat_list, remux_argv
from agent.ffmpeg.probe import probe_duration
from agent.ffmpeg.process import FfmpegProcess
from agent.files.layout import has_fragment

log = logging.getLogger(__name__)

_MD5_CHUNK = 1 << 20
# The join may lose a fraction of a frame per part boundary; more than this is a broken join.
_JOIN_SLACK_S = 1.0


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
        list_file.write_text(concat_list(parts))
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
    proc = FfmpegProcess(remux_argv(ffmpeg_bin, source, output, muxer), name="join")
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
