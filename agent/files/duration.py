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


async def part_duration(path: Path, ffmpeg_bin: str, since: int = 0) -> float | None:
    """The media in a fragmented part (its whole fragments: each track's decode span, the longest),
    read in-process; ffprobe's answer for anything else. `since`: only the fragments from that byte
    on (a later ffmpeg's in the record's file)."""
    try:
        duration = _fragments_duration(path, since)
    except (OSError, Fmp4Error, IndexError, ValueError):
        duration = None
    if duration is not None or since:  # ffprobe would measure the whole file
        return duration
    return await probe_duration(path, ffmpeg_bin)


def _fragments_duration(path: Path, since: int = 0) -> float | None:
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
        for box in top_boxes(f, max(head[1].end, since), end):
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
