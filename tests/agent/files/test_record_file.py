"""The record's one file: hashed as it is written, later parts appended with a continuous timeline,
an agent restart in the middle of an append neither loses nor repeats a fragment."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.errors import Fmp4Error
from agent.files.fmp4 import Fragment, read_box, top_boxes
from agent.files.record_file import CodecChanged, RecordFile
from videorec_testing.media import ffprobe_json

FPS = 25


def make_part(
    path: Path, seconds: float, size: str = "320x240", start: float = 0.0, bframes: int = 0
) -> Path:
    """A real fragmented part, as the agent's ffmpeg writes it (same muxer and flags)."""
    source = f"testsrc2=size={size}:rate={FPS}"
    argv = ["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-f", "lavfi", "-i", source, "-t", str(seconds)]
    argv += encoder(bframes)
    argv += ["-f", "mov", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(path)]
    subprocess.run(argv, check=True)
    return path


def encoder(bframes: int) -> list[str]:
    return [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-bf",
        str(bframes),
        "-g",
        str(FPS),
        "-pix_fmt",
        "yuv420p",
    ]


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


def continue_in_place(record: RecordFile, seconds: float, size: str = "320x240", start: float = 30.0) -> None:
    """A later ffmpeg continuing the record's file itself, as the agent runs it after a reconnect:
    the default muxer with the in-place flags, writing a descriptor of the file opened to append.
    B-frames, so that its first decode time comes before its first presentation time."""
    begin = record.begin_in_place()
    assert begin is not None
    source = f"testsrc2=size={size}:rate={FPS}"
    argv = ["ffmpeg", "-v", "error", "-ss", str(start), "-f", "lavfi", "-i", source, "-t", str(seconds)]
    argv += encoder(bframes=2)
    argv += [
        "-f",
        "mov",
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof+frag_discont+delay_moov+skip_trailer",
    ]
    argv += [
        "-fragment_index",
        str(begin.fragment_index),
        "-use_editlist",
        "0",
        "-avoid_negative_ts",
        "make_non_negative",
    ]
    fd = os.open(record.path, os.O_WRONLY | os.O_APPEND)
    try:
        argv += ["-output_ts_offset", f"{begin.ts_offset_s:.6f}", f"pipe:{fd}"]
        subprocess.run(argv, check=True, pass_fds=(fd,))
    finally:
        os.close(fd)


def test_a_later_ffmpeg_continues_the_file_in_place_and_a_restart_finds_it_whole(tmp_path: Path) -> None:
    first = make_part(tmp_path / "part-0001.mp4", 2, bframes=2)
    frames_made = frames_and_duration(first)[0]
    record = RecordFile(first)
    record.follow()
    continue_in_place(record, 2)
    record.follow()  # its header becomes a `free` box, its fragments are hashed
    continue_in_place(record, 2, start=60.0)
    # The agent restarts before it has looked at the last run: it reads the file again from the start.
    again = RecordFile.recover([first], {}, {})
    sealed = again.seal()
    assert sealed.md5 == md5_of(first) and sealed.size == first.stat().st_size
    assert list(tmp_path.iterdir()) == [first]  # no other file ever held what was recorded
    frames, duration = frames_and_duration(first)
    assert abs(frames - 3 * frames_made) <= 3  # each run as long as the first, to a frame
    assert duration == pytest.approx(6.0, abs=0.2) and sealed.duration_s == pytest.approx(duration, abs=0.01)
    with first.open("rb") as f:
        boxes = list(top_boxes(f, 0, sealed.size))
        sequences = [Fragment.parse(read_box(f, box)).sequence for box in boxes if box.type == b"moof"]
    kinds = [box.type for box in boxes]
    assert kinds.count(b"ftyp") == 1 and kinds.count(b"moov") == 1 and kinds.count(b"free") == 2
    assert sequences == list(range(1, len(sequences) + 1))
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(first), "-f", "null", "-"], capture_output=True
    )
    assert decoded.stderr == b""
    assert frame_at(first, 5.0)  # seeks into the last run


def test_a_later_ffmpeg_with_other_codec_parameters_is_cut_off(tmp_path: Path) -> None:
    first = make_part(tmp_path / "part-0001.mp4", 2, bframes=2)
    frames_made = frames_and_duration(first)[0]
    original = first.read_bytes()
    record = RecordFile(first)
    record.follow()
    continue_in_place(record, 1, size="640x480")
    with pytest.raises(CodecChanged):
        record.follow()
    assert record.begin_in_place() is None  # the next run writes a part of its own
    sealed = record.seal()
    assert first.read_bytes() == original[: record.hashed]  # what the first ffmpeg wrote, its index cut
    assert sealed.md5 == md5_of(first)
    assert frames_and_duration(first)[0] == frames_made
