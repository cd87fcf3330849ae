"""A recording's ffmpeg with a live copy (agent.ffmpeg.tee), run against the real RTSP test camera:
the file is written as before whatever becomes of the live copy's pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.ffmpeg.commands import record_command, records_live
from agent.ffmpeg.tee import written_paths
from agent.files.duration import _fragments_duration
from agent.files.fmp4_stream import Splitter
from shared.ffmpeg_cmd import DEFAULT_RECORD_TEMPLATE
from shared.media_fanout import Fragment, Init
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.wait import wait_until

# Every character the tee's parser treats specially, in a directory name as a storage root might be.
ODD = "a b'c|d\\e[f]"


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(fps=25, audio="pcmu") as cam:
        yield cam


def test_only_the_default_template_records_live() -> None:
    assert records_live(None) and records_live("  ") and records_live(DEFAULT_RECORD_TEMPLATE)
    assert not records_live("ffmpeg -i {input} -c:v libx264 {output}")
    with pytest.raises(ValueError):
        record_command(
            "ffmpeg -i {input} -c copy {output}", "rtsp://c/s", "/o.mp4", "ffmpeg", live_fragment_us=1
        )


def test_the_file_keeps_its_muxer_options_and_the_live_copy_goes_to_stdout() -> None:
    command = record_command(
        None, "rtsp://c/s", f"/data/{ODD}/part-0001.mp4", "ffmpeg", live_fragment_us=200_000
    )
    assert command.argv[-3:-1] == ["-f", "tee"]
    file_slave, live_slave = command.argv[-1].split("]", 1)[0], command.argv[-1].rsplit("|", 1)[1]
    # flush_packets in the slave: the tee's own does not reach it (the file would lag by 256 KiB).
    for option in ("f=mov", "frag_duration=1000000", "flush_packets=1", "+frag_keyframe+empty_moov"):
        assert option in file_slave
    for option in ("f=mp4", "select=v", "frag_duration=200000", "write_prft=wallclock", "onfail=ignore"):
        assert option in live_slave
    assert live_slave.endswith("]pipe:1") and "use_fifo=1" in live_slave
    assert command.argv[command.argv.index("-fifo_options") + 1] == "drop_pkts_on_overflow=1"
    assert written_paths(command.argv)[0] == f"/data/{ODD}/part-0001.mp4"
    plain = record_command(None, "rtsp://c/s", "/data/p.mp4", "ffmpeg")
    assert written_paths(plain.argv) == ["/data/p.mp4"]


def _run(camera: RtspCamera, part: Path) -> tuple[subprocess.Popen[bytes], int]:
    command = record_command(None, camera.url, str(part), "ffmpeg", live_fragment_us=200_000)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(  # noqa: S603
        command.argv, stdin=subprocess.PIPE, stdout=write_end, stderr=subprocess.PIPE, start_new_session=True
    )
    os.close(write_end)
    assert proc.stdin is not None and command.stdin is not None
    proc.stdin.write(command.stdin)
    proc.stdin.close()
    return proc, read_end


def _duration(part: Path) -> float:
    return _fragments_duration(part) or 0.0 if part.exists() else 0.0


def _drain(read_end: int) -> None:
    while os.read(read_end, 1 << 16):
        pass
    os.close(read_end)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def test_the_file_and_the_live_copy_both_get_the_video(camera: RtspCamera, tmp_path: Path) -> None:
    part = tmp_path / ODD / "part-0001.mp4"
    part.parent.mkdir()
    proc, read_end = _run(camera, part)
    try:
        splitter, items, deadline = Splitter(), [], time.monotonic() + 20
        while sum(isinstance(i, Fragment) for i in items) < 10 and time.monotonic() < deadline:
            items += splitter.feed(os.read(read_end, 1 << 16))
        wait_until(lambda: _duration(part) >= 1.0, 15, what="the file's first second")
    finally:
        _stop(proc)
        os.close(read_end)
    init = items[0]
    assert isinstance(init, Init) and init.codecs.startswith("avc1."), init  # video only: no G.711
    fragments = [i for i in items if isinstance(i, Fragment)]
    assert fragments[0].keyframe and all(f.wallclock is not None for f in fragments)
    assert _duration(part) >= 1.0


@pytest.mark.parametrize("reader", ["gone", "paused"])
def test_the_file_goes_on_when_the_live_copy_is_not_read(
    camera: RtspCamera, tmp_path: Path, reader: str
) -> None:
    """`gone`: the agent died (the pipe is broken); `paused`: it is stopped (the pipe fills up), and
    reads again once it goes on, before it stops ffmpeg (the agent reads until ffmpeg's exit: ffmpeg
    finishes the file at once, but its exit would wait for the pipe)."""
    part = tmp_path / "part-0001.mp4"
    proc, read_end = _run(camera, part)
    try:
        wait_until(lambda: _duration(part) >= 1.0, 15, what="the file's first second")
        if reader == "gone":
            os.close(read_end)
        at = _duration(part)
        wait_until(lambda: _duration(part) >= at + 4.0, 15, what="the file going on")
        assert proc.poll() is None
    finally:
        if reader == "paused":
            threading.Thread(target=_drain, args=(read_end,)).start()
        _stop(proc)
    assert proc.stderr is not None
    errors = proc.stderr.read().decode()
    assert "All tee outputs failed" not in errors, errors
