"""Splitting ffmpeg's fragmented MP4 as it arrives on a pipe: the init segment with its codec string,
fragments with their keyframe flag and prft time, whatever the chunk boundaries."""

from __future__ import annotations

import subprocess
import time

import pytest

from agent.errors import StreamError
from agent.ffmpeg.live_commands import FRAGMENT_US
from agent.files.fmp4_stream import Splitter, codecs_of
from shared.media_fanout import Fragment, Init

FFMPEG = "ffmpeg"


def encode(codec: list[str], seconds: int = 3, gop: int = 25) -> bytes:
    """`seconds` of a 25 fps test pattern, as the camera session's ffmpeg writes it."""
    argv = [
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=320x240:rate=25:duration={seconds}",
    ]
    argv += [*codec, "-g", str(gop), "-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
    argv += ["-frag_duration", str(FRAGMENT_US), "-write_prft", "wallclock", "pipe:1"]
    return subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_h264_init_then_fragments_with_keyframes_and_prft(chunk: int) -> None:
    data = encode(["-c:v", "libx264", "-profile:v", "high", "-level", "3.1", "-pix_fmt", "yuv420p"])
    splitter, items = Splitter(), []
    for start in range(0, len(data), chunk):
        items += splitter.feed(data[start : start + chunk])
    init, fragments = items[0], items[1:]
    assert isinstance(init, Init) and init.codecs == "avc1.64001f"
    assert all(isinstance(f, Fragment) for f in fragments)
    assert (
        b"".join([init.data, *(f.data for f in fragments)])
        == data[: len(init.data) + sum(len(f.data) for f in fragments)]
    )
    # A keyframe a second (gop 25) and fragments of at most 200 ms: 5 a second, the first a keyframe.
    assert fragments[0].keyframe
    assert sum(f.keyframe for f in fragments) == 3
    assert len(fragments) >= 14
    assert sum(f.samples for f in fragments) == 75
    assert all(abs(time.time() - f.wallclock) < 60 for f in fragments if f.wallclock is not None)
    assert all(f.data[4:8] == b"prft" for f in fragments)


def test_h265_codec_string() -> None:
    data = encode(["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1"], seconds=1)
    (init, *_rest) = Splitter().feed(data)
    assert isinstance(init, Init)
    assert init.codecs.startswith("hvc1.1.6.L"), init.codecs


def test_a_codec_a_browser_cannot_take_is_refused() -> None:
    data = encode(["-c:v", "mpeg4"], seconds=1)
    with pytest.raises(StreamError, match="cannot be played live"):
        Splitter().feed(data)


def test_garbage_is_a_stream_error() -> None:
    with pytest.raises(StreamError):
        Splitter().feed(b"\x00\x00\x00\x04junk")
    with pytest.raises(StreamError):
        codecs_of(b"\x00\x00\x00\x08moov")
