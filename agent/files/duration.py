"""The duration of a recording's new part, read from the part's own fragmented-MP4 boxes.

The watchdog asks a few times for every new part, and an ffprobe costs ~70 ms of CPU to start (200
libraries to link). At a group start of 100 records those runs alone were 20-30 s of CPU, competing
with the new ffmpeg; so ffprobe is asked only of what the parse cannot read."""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import Fmp4Error
from agent.ffmpeg.probe import probe_duration
from agent.files.fmp4 import Fragment, header_of, read_box, timescales, top_boxes

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
        scales = timescales(read_box(f, head[1]))
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
