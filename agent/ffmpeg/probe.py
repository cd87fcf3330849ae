"""What ffprobe says of a media file: its duration (the watchdog, the resume and the join use it).

`part_duration` reads it from a fragmented part's own boxes instead: the watchdog asks a few times
for every new part, and an ffprobe costs ~70 ms of CPU to start (200 libraries to link). At a group
start of 100 records those runs alone were 20-30 s of CPU, competing with the new ffmpeg."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from agent.ffmpeg.commands import ffprobe_duration_argv
from agent.ffmpeg.process import FfmpegProcess
from agent.files.fmp4 import Fmp4Error, Fragment, header_of, read_box, top_boxes
from agent.files.record_file import _timescales

# Past this many fragments the parse is left to ffprobe (the watchdog asks of new parts: a few).
_MAX_FRAGMENTS = 64


async def part_duration(path: Path, ffmpeg_bin: str) -> float | None:
    """The media in a fragmented part (its whole fragments: each track's decode span, the longest),
    read in-process; ffprobe's answer for anything else."""
    try:
        duration = _fragments_duration(path)
    except (OSError, Fmp4Error, IndexError, ValueError):
        duration = None
    return duration if duration is not None else await probe_duration(path, ffmpeg_bin)


def _fragments_duration(path: Path) -> float | None:
    with path.open("rb") as f:
        end = os.fstat(f.fileno()).st_size
        head = header_of(f, end)
        if head is None:
            return None
        scales = _timescales(read_box(f, head[1]))
        starts: dict[int, int] = {}
        ends: dict[int, int] = {}
        moof = None
        fragments = 0
        for box in top_boxes(f, head[1].end, end):
            if box.type == b"moof":
                moof = box
            elif box.type == b"mdat" and moof is not None:  # only a fragment whose data is whole
                frag = Fragment.parse(read_box(f, moof))
                for track, (tfdt, duration, _) in frag.times.items():
                    starts.setdefault(track, tfdt)
                    ends[track] = tfdt + duration
                moof = None
                fragments += 1
                if fragments > _MAX_FRAGMENTS:
                    return None
            elif box.type == b"mfra":
                break
    spans = [(ends[t] - starts[t]) / scales[t] for t in ends if scales.get(t)]
    return max(spans) if spans else None


async def probe_duration(path: Path, ffmpeg_bin: str) -> float | None:
    """The media duration ffprobe reads from `path`, or None when it cannot read one."""
    argv = ffprobe_duration_argv(ffmpeg_bin, path)
    proc = FfmpegProcess(argv, name="ffprobe", stdout_pipe=True, log_level=logging.DEBUG)
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
