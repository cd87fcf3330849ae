"""A fast open with real ffmpeg and the real RTSP camera: what it records from cameras with audio,
without sprop-parameter-sets or with B-frames, and ffmpeg's own words when an open lacked a stream's
codec parameters (what the recorder falls back on)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from agent.ffmpeg.commands import record_command
from agent.ffmpeg.fast_open import FAST_OPEN, lacked_parameters
from agent.files.layout import has_fragment
from videorec_testing.cameras import Viewer, start_rtsp_camera
from videorec_testing.media import ffprobe_json
from videorec_testing.net import free_port
from videorec_testing.wait import wait_until

# The still grabs' probing: one packet. Not enough for a camera joined between keyframes whose SDP
# lacks the parameter sets, which makes it a real way to see ffmpeg fail for lack of parameters.
ONE_PACKET = {"analyzeduration": "0", "probesize": "32"}


def record(url: str, output: Path, open_options: Mapping[str, str], seconds: float = 2.0) -> list[str]:
    """ffmpeg with the agent's argv until `output` holds `seconds` of video or ffmpeg gives up; its
    stderr lines."""
    command = record_command(None, url, str(output), "ffmpeg", open_options=open_options)
    proc = subprocess.Popen(
        command.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and command.stdin is not None
    proc.stdin.write(command.stdin)
    proc.stdin.close()
    try:
        wait_until(
            lambda: proc.poll() is not None or (has_fragment(output) and _duration(output) >= seconds),
            30,
            interval=0.2,
            what=f"{seconds} s recorded",
        )
    finally:
        proc.terminate()
        assert proc.stderr is not None
        stderr = proc.stderr.read()  # to its end: ffmpeg has exited
        proc.wait(10)
    return stderr.decode(errors="replace").splitlines()


def _duration(path: Path) -> float:
    return float(ffprobe_json(path)["format"].get("duration", 0))


def assert_plays(path: Path, audio: str | None) -> None:
    probe = ffprobe_json(path)
    video = [s for s in probe["streams"] if s["codec_type"] == "video"]
    assert [(s["codec_name"], s["width"], s["height"]) for s in video] == [("h264", 640, 360)]
    sound = [s["codec_name"] for s in probe["streams"] if s["codec_type"] == "audio"]
    assert sound == ([audio] if audio else [])
    assert float(probe["format"]["duration"]) >= 1.5
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


@pytest.mark.parametrize(
    ("camera", "audio"),
    [
        ({"audio": "pcmu"}, "pcm_mulaw"),
        ({"audio": "aac"}, "aac"),
        ({"sprop": False}, None),
        ({"bframes": 2}, None),
    ],
    ids=["g711-audio", "aac-audio", "no-sprop", "b-frames"],
)
def test_a_fast_open_records_the_camera_whole(tmp_path: Path, camera: dict, audio: str | None) -> None:
    with start_rtsp_camera(**camera) as cam, Viewer(cam.url, tmp_path) as viewer:
        viewer.after_keyframe()  # joined between keyframes, as with a camera that was already on
        output = tmp_path / "fast.mp4"
        lines = record(cam.url, output, FAST_OPEN)
    assert not lacked_parameters(lines), lines
    assert_plays(output, audio)


def test_ffmpeg_says_when_an_open_lacked_the_codec_parameters(tmp_path: Path) -> None:
    with start_rtsp_camera(sprop=False, keyframe_interval=2.0) as cam, Viewer(cam.url, tmp_path) as viewer:
        viewer.after_keyframe()  # the next keyframe, with the parameter sets, is 2 s away
        lines = record(cam.url, tmp_path / "one-packet.mp4", ONE_PACKET)
        assert lacked_parameters(lines), lines
        assert not has_fragment(tmp_path / "one-packet.mp4")
        # Full probing reads on until the parameter sets come.
        lines = record(cam.url, tmp_path / "full.mp4", {})
    assert not lacked_parameters(lines), lines
    assert_plays(tmp_path / "full.mp4", None)
    # A camera that is down is an outage, not a lack of parameters.
    lines = record(f"rtsp://127.0.0.1:{free_port()}/stream", tmp_path / "down.mp4", FAST_OPEN)
    assert lines and not lacked_parameters(lines), lines
