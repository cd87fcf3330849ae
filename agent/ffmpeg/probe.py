"""What ffprobe says of a media file: its duration (the resume and the join use it; the watchdog's
in-process reading of a part, `agent.files.duration`, falls back to it)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from agent.ffmpeg.commands import ffprobe_duration_argv
from agent.ffmpeg.process import FfmpegProcess


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
