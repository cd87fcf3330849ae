"""The record's one file: hashed as it is written, later parts appended with a continuous timeline,
an agent restart in the middle of an append neither loses nor repeats a fragment."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.errors import Fmp4Error
from agent.files.record_file import RecordFile
from videorec_testing.media import ffprobe_json

FPS = 25


def make_part(path: Path, seconds: float, size: str = "320x240", start: float = 0.0) -> Path:
    """A real fragmented part, as the agent's ffmpeg writes it (same muxer and flags)."""
    source = f"testsrc2=size={size}:rate={FPS}"
    argv = ["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-f", "lavfi", "-i", source, "-t", str(seconds)]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p"]
    argv += ["-f", "mov", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(path)]
    subprocess.run(argv, check=True)
    return path


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - the record's checksum


def frames_and_duration(path: Path) -> tuple[int, float]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip()), float(ffprobe_json(path)["format"]["duration"])


def frame_at(path: Path, seconds: float) -> bytes:
    argv = [
        "ffmpeg",
        "-v",
        "error",
        "-ss",
        str(seconds),
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-f",
        "image2pipe",
    ]
    return subprocess.run([*argv, "-c:v", "mjpeg", "pipe:1"], capture_output=True, check=True).stdout


def test_one_part_is_its_own_final_file_hashed_while_written(tmp_path: Path) -> None:
    part = make_part(tmp_path / "part-0001.mp4", 3)
    frames_made = frames_and_duration(part)[0]
    original = part.read_bytes()
    part.write_bytes(original[: len(original) // 2])  # ffmpeg has written half of it so far
    record = RecordFile(part)
    record.follow()
    hashed_early = record.hashed
    assert 0 < hashed_early <= len(original) // 2
    part.write_bytes(original)  # the rest arrives, then ffmpeg exits
    sealed = record.seal()
    assert sealed.md5 == md5_of(part) and sealed.size == len(original)
    assert part.read_bytes() == original  # nothing rewritten
    frames, duration = frames_and_duration(part)
    assert frames == frames_made and sealed.duration_s == pytest.approx(duration, abs=0.01)


def test_later_parts_continue_the_first_one(tmp_path: Path) -> None:
    parts = [make_part(tmp_path / f"part-000{n}.mp4", 2, start=10 * n) for n in (1, 2, 3)]
    frames_made = sum(frames_and_duration(p)[0] for p in parts)
    record = RecordFile(parts[0])
    record.follow()
    for part in parts[1:]:
        record.append_from(part)
        record.follow()
    sealed = record.seal()
    assert not parts[1].exists() and parts[2].exists()  # an appended part goes when the next comes
    assert sealed.md5 == md5_of(parts[0]) and sealed.size == parts[0].stat().st_size
    frames, duration = frames_and_duration(parts[0])
    assert frames == frames_made
    assert duration == pytest.approx(6.0, abs=0.05) and sealed.duration_s == pytest.approx(duration, abs=0.01)
    assert frame_at(parts[0], 5.0)  # seeks into the last part


def test_a_restart_in_the_middle_of_an_append_loses_and_repeats_nothing(tmp_path: Path) -> None:
    first, second = make_part(tmp_path / "part-0001.mp4", 2), make_part(tmp_path / "part-0002.mp4", 4)
    frames_made = frames_and_duration(first)[0] + frames_and_duration(second)[0]
    whole_second = second.read_bytes()
    reference = tmp_path / "ref"
    reference.mkdir()
    ref_first = Path(shutil.copy(first, reference / first.name))
    ref_second = Path(shutil.copy(second, reference / second.name))

    record = RecordFile(first)
    record.follow()
    record.append_from(second)
    bases = {str(second): record.fragments}
    second.write_bytes(whole_second[: len(whole_second) // 2])  # part 2 half written ...
    record.follow()
    assert record.fragments > bases[str(second)]
    second.write_bytes(whole_second)  # ... the agent dies, part 2's ffmpeg (an orphan) goes on

    recovered = RecordFile.recover([first, second], bases).seal()

    uninterrupted = RecordFile(ref_first)
    uninterrupted.follow()
    uninterrupted.append_from(ref_second)
    expected = uninterrupted.seal()
    assert recovered == expected
    assert first.read_bytes() == ref_first.read_bytes()
    assert frames_and_duration(first)[0] == frames_made


def test_a_later_part_that_overlaps_the_record_is_appended_without_its_overlap(tmp_path: Path) -> None:
    # Part 2 began 1.4 s before part 1 ended (a restarted agent's ffmpeg opened the camera while the
    # dead agent's still recorded): of its 1 s fragments the first (0-1 s) goes, the second
    # (1-2 s, mostly past the overlap) stays, so what both hold is in the file once.
    first, second = (
        make_part(tmp_path / "part-0001.mp4", 3),
        make_part(tmp_path / "part-0002.mp4", 4, start=2),
    )
    record = RecordFile(first)
    record.follow()
    record.append_from(second, trim_s=1.4)
    record.follow()
    sealed = record.seal()
    frames, duration = frames_and_duration(first)
    assert sealed.duration_s == pytest.approx(6.0, abs=0.1) and duration == pytest.approx(6.0, abs=0.1)
    assert abs(frames - 6 * FPS) <= 2, frames  # 3 s + the 3 s of part 2 after its dropped second


def test_a_restart_while_appending_an_overlapping_part_trims_it_the_same(tmp_path: Path) -> None:
    first, second = make_part(tmp_path / "part-0001.mp4", 2), make_part(tmp_path / "part-0002.mp4", 5)
    reference = tmp_path / "ref"
    reference.mkdir()
    ref_first = Path(shutil.copy(first, reference / first.name))
    ref_second = Path(shutil.copy(second, reference / second.name))
    whole_second = second.read_bytes()
    record = RecordFile(first)
    record.follow()
    record.append_from(second, trim_s=2.0)
    bases = {str(second): record.fragments}
    second.write_bytes(whole_second[: len(whole_second) * 3 // 4])
    record.follow()
    assert record.fragments > bases[str(second)]
    second.write_bytes(whole_second)

    recovered = RecordFile.recover([first, second], bases, {str(second): 2.0}).seal()

    uninterrupted = RecordFile(ref_first)
    uninterrupted.follow()
    uninterrupted.append_from(ref_second, trim_s=2.0)
    assert recovered == uninterrupted.seal()
    assert recovered.duration_s == pytest.approx(5.0, abs=0.1)  # 2 s + part 2 from its third second


def test_a_part_with_other_codec_parameters_is_refused(tmp_path: Path) -> None:
    first = make_part(tmp_path / "part-0001.mp4", 1)
    other = make_part(tmp_path / "part-0002.mp4", 1, size="640x480")
    record = RecordFile(first)
    record.follow()
    record.append_from(other)
    with pytest.raises(Fmp4Error, match="other codec parameters"):
        record.follow()
