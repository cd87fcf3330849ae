"""The watchdog's duration of a new part, read from the part's own boxes, is ffprobe's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.ffmpeg.probe import probe_duration
from agent.files import duration
from agent.files.duration import part_duration

pytestmark = pytest.mark.anyio
FRAGMENTED = [
    "-f",
    "mp4",
    "-movflags",
    "+frag_keyframe+empty_moov+default_base_moof",
    "-frag_duration",
    "1000000",
]


def make_video(path: Path, seconds: int, muxer: list[str]) -> Path:
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", f"testsrc2=size=320x240:rate=15:duration={seconds}", "-c:v", "libx264", "-g", "15"]
    subprocess.run([*argv, *muxer, str(path)], check=True, timeout=60)
    return path


async def test_a_fragmented_part_is_measured_in_process_as_ffprobe_measures_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = make_video(tmp_path / "part-0001.mp4", 4, FRAGMENTED)
    expected = await probe_duration(part, "ffmpeg")
    assert expected is not None and expected > 3.5

    async def no_ffprobe(*_args: object) -> float | None:
        raise AssertionError("ffprobe was run")

    monkeypatch.setattr(duration, "probe_duration", no_ffprobe)
    assert await part_duration(part, "ffmpeg") == pytest.approx(expected, abs=0.001)


async def test_a_part_cut_in_its_last_fragment_counts_only_whole_fragments(tmp_path: Path) -> None:
    part = make_video(tmp_path / "part-0001.mp4", 4, FRAGMENTED)
    whole = await part_duration(part, "ffmpeg")
    data = part.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) - 2000])  # ffmpeg's closing index and the last fragment's end
    shorter = await part_duration(cut, "ffmpeg")
    assert whole is not None and shorter is not None and 2.0 < shorter < whole


async def test_anything_else_is_left_to_ffprobe(tmp_path: Path) -> None:
    plain = make_video(tmp_path / "plain.mp4", 2, ["-f", "mp4", "-movflags", "+faststart"])
    assert await part_duration(plain, "ffmpeg") == await probe_duration(plain, "ffmpeg")
    assert await part_duration(tmp_path / "missing.mp4", "ffmpeg") is None
