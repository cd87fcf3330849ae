"""The recording command keeps the camera URL (and its password) off ffmpeg's command line."""

from __future__ import annotations

import pytest

from agent.ffmpeg.commands import record_command
from agent.ffmpeg.fast_open import FAST_OPEN
from shared.ffmpeg_cmd import FfmpegCmdError

URL = "rtsp://admin:pa ss'word@10.0.0.5:554/stream"


def test_default_template_reads_the_url_from_stdin() -> None:
    command = record_command(None, URL, "/data/t/1/r.parts/part-0001.mp4", "/usr/bin/ffmpeg")
    assert command.argv[0] == "/usr/bin/ffmpeg" and command.argv[-1].endswith("part-0001.mp4")
    assert "pa ss" not in " ".join(command.argv) and "10.0.0.5" not in " ".join(command.argv)
    assert command.argv[command.argv.index("-i") + 1] == "pipe:0"
    assert command.stdin is not None
    script = command.stdin.decode().splitlines()
    assert script[1] == "file 'rtsp://admin:pa ss'\\''word@10.0.0.5:554/stream'"
    assert "option rtsp_transport tcp" in script and "-rtsp_transport" not in command.argv


def test_template_options_go_to_the_camera_or_stay_on_the_command_line() -> None:
    template = (
        "ffmpeg -re -thread_queue_size 512 -timeout 3000000 -fflags +genpts -i {input} -c copy {output}"
    )
    command = record_command(template, URL, "/o.mp4", "ffmpeg", open_options={})
    before_input = command.argv[: command.argv.index("-i")]
    assert before_input[:4] == ["ffmpeg", "-re", "-thread_queue_size", "512"]
    assert "-timeout" not in before_input and "-fflags" not in before_input
    assert command.stdin is not None
    assert command.stdin.decode().splitlines()[2:] == ["option timeout 3000000", "option fflags +genpts"]


def test_the_camera_and_the_script_are_opened_fast_unless_the_template_sets_the_probing() -> None:
    command = record_command(None, URL, "/o.mp4", "ffmpeg")
    assert command.stdin is not None
    script = command.stdin.decode().splitlines()
    before_input = command.argv[: command.argv.index("-i")]
    for key, value in FAST_OPEN.items():
        assert f"option {key} {value}" in script  # the camera's demuxer
        assert before_input[before_input.index(f"-{key}") + 1] == value  # the script's
    for probing in ("-probesize 5000000", "-analyzeduration 3000000"):
        command = record_command(f"ffmpeg {probing} -i {{input}} -c copy {{output}}", URL, "/o.mp4", "ffmpeg")
        assert command.stdin is not None
        script = command.stdin.decode().splitlines()
        assert script[2:] == [f"option {probing[1:]}"]
        assert not any(f"-{key}" in command.argv for key in FAST_OPEN)


def test_invalid_template_or_url_is_refused() -> None:
    with pytest.raises(FfmpegCmdError):
        record_command("ffmpeg -i {input} -f tee {output}", URL, "/o.mp4", "ffmpeg")
    with pytest.raises(ValueError):
        record_command(None, "rtsp://cam/x\nfile '/etc/passwd'", "/o.mp4", "ffmpeg")
