"""JpegSplitter on real ffmpeg MJPEG output, cut into chunks of every size."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from agent.ffmpeg import commands  # not its test_*_argv names: pytest would collect them
from agent.ffmpeg.jpeg import JpegSplitter, is_jpeg

FRAMES = 40


@pytest.fixture(scope="module")
def mjpeg_stream() -> bytes:
    """FRAMES images of the moving test pattern, as ffmpeg writes them to a pipe."""
    argv = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
    argv += ["-frames:v", str(FRAMES), "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "-"]
    return subprocess.run(argv, capture_output=True, check=True, timeout=30).stdout


def decoded_frames(images: list[bytes], tmp_path: Path) -> int:
    """How many of `images` ffmpeg's own decoder reads without an error."""
    for i, image in enumerate(images):
        (tmp_path / f"f{i:03d}.jpg").write_bytes(image)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"]
        + ["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(tmp_path / "f%03d.jpg")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert result.stderr == ""
    return int(result.stdout.strip())


def split_in_random_chunks(stream: bytes, seed: int, max_chunk: int) -> list[bytes]:
    rng = random.Random(seed)
    splitter = JpegSplitter()
    images: list[bytes] = []
    pos = 0
    while pos < len(stream):
        size = rng.randint(1, max_chunk)
        images += splitter.feed(stream[pos : pos + size])
        pos += size
    return images


@pytest.mark.parametrize(("seed", "max_chunk"), [(1, 7), (2, 1500), (3, 70000)])
def test_random_chunks_give_every_image_whole(
    mjpeg_stream: bytes, seed: int, max_chunk: int, tmp_path: Path
) -> None:
    images = split_in_random_chunks(mjpeg_stream, seed, max_chunk)
    assert len(images) == FRAMES
    assert b"".join(images) == mjpeg_stream  # nothing lost, nothing duplicated
    assert all(is_jpeg(image) for image in images)
    assert decoded_frames(images, tmp_path) == FRAMES


def test_one_byte_at_a_time(mjpeg_stream: bytes) -> None:
    splitter = JpegSplitter()
    images = [image for i in range(len(mjpeg_stream)) for image in splitter.feed(mjpeg_stream[i : i + 1])]
    assert len(images) == FRAMES


def test_garbage_around_images_is_skipped(mjpeg_stream: bytes) -> None:
    first, second = split_in_random_chunks(mjpeg_stream, 4, 4096)[:2]
    splitter = JpegSplitter()
    images = splitter.feed(b"junk\xff\xff\x00" + first + b"\r\n--boundary\r\n\xff" + second + b"\xff")
    assert images == [first, second]
    assert splitter.dropped_bytes > 0


def test_embedded_thumbnail_does_not_end_the_image_early(mjpeg_stream: bytes) -> None:
    # An EXIF-style APP1 segment holding a whole small JPEG, as many cameras write them.
    thumbnail = split_in_random_chunks(mjpeg_stream, 5, 4096)[0]
    image = split_in_random_chunks(mjpeg_stream, 6, 4096)[1]
    payload = b"Exif\x00\x00" + thumbnail
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    with_thumbnail = image[:2] + app1 + image[2:]
    assert JpegSplitter().feed(with_thumbnail) == [with_thumbnail]


def test_buffer_is_bounded_without_an_image_end() -> None:
    splitter = JpegSplitter(max_buffer=4096)
    start = b"\xff\xd8\xff\xdb\x00\x04\x00\x00\xff\xda\x00\x02"  # SOI, a segment, start of scan
    assert splitter.feed(start + b"\x11" * 10_000) == []
    assert splitter.dropped_bytes >= 10_000
    # and it recovers on the next real image
    image = start + b"\x22" * 10 + b"\xff\xd9"
    assert splitter.feed(image) == [image]


def test_is_jpeg(mjpeg_stream: bytes) -> None:
    image = split_in_random_chunks(mjpeg_stream, 7, 4096)[0]
    assert is_jpeg(image)
    assert is_jpeg(image + b"\r\n")  # padding some HTTP cameras add
    assert not is_jpeg(image[:-100])  # cut short
    assert not is_jpeg(b"<html>401 Unauthorized</html>")
    assert not is_jpeg(b"")


def test_test_image_and_test_video_commands_make_jpegs(tmp_path: Path) -> None:
    image = subprocess.run(
        commands.test_image_argv("ffmpeg"), capture_output=True, check=True, timeout=30
    ).stdout
    assert is_jpeg(image)
    video = subprocess.run(
        commands.test_video_argv(5, 25.0, "ffmpeg"), capture_output=True, check=True, timeout=30
    ).stdout
    images = JpegSplitter().feed(video)
    assert len(images) == 5
    assert decoded_frames(images, tmp_path) == 5
