"""Opening a camera for recording without ffmpeg's needless waits, and telling from ffmpeg's output
when a fast open was not enough (the record's next ffmpeg then probes the default way).

With its default probing ffmpeg opens an RTSP camera in ~2 s (measured on the H.264 test camera,
PLAY → part file: 1.95 s), although the codecs are known after the first keyframe (~0.1-0.9 s): it
goes on reading to estimate the frame rate from 20 frames, and waits for the first timestamps.
`FAST_OPEN` skips those two waits and nothing else: probing still ends only once every stream's
codec parameters are known, within ffmpeg's usual limits. So a camera whose SDP lacks the H.264
parameter sets (no sprop-parameter-sets) is read until the in-band ones come with the next keyframe,
and an audio track does not hide the video's parameters, both of which defeat the still grabs'
`analyzeduration 0 / probesize 32` (one packet read: measured to fail on both).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# fpsprobesize 0: no frame-rate estimate (the stream is copied with its own timestamps); max_ts_probe
# 0: no wait for the first timestamps (the RTP ones come with the packets, RTCP only ~1 s later).
FAST_OPEN = {"fpsprobesize": "0", "max_ts_probe": "0"}
# What ffmpeg says when it set up the output without knowing a stream's parameters: the demuxer's
# warning, the muxer's refusal, ffmpeg's own summary (the first is hidden below -loglevel warning).
_LACKING = re.compile(
    r"could not find codec parameters|incorrect codec parameters|dimensions not set|sample rate not set",
    re.IGNORECASE,
)


def lacked_parameters(stderr_lines: Sequence[str]) -> bool:
    """Whether an ffmpeg failed because it opened its input without a stream's codec parameters."""
    return any(_LACKING.search(line) for line in stderr_lines)
