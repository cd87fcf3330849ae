"""Tests for shared.ffmpeg_cmd: the ffmpeg_cmd allow-list and argv construction."""

from __future__ import annotations

import pytest

from shared.ffmpeg_cmd import (
    DEFAULT_RECORD_TEMPLATE,
    MAX_TEMPLATE_LENGTH,
    FfmpegCmdError,
    build_argv,
    validate_template,
)

X264_TEMPLATE = (
    "ffmpeg -hide_banner -nostdin -rtsp_transport tcp -i {input}"
    " -map 0:v -c:v libx264 -preset veryfast -crf 23 -g 25 -vf scale=1280:720,fps=15 -an"
    " -f mp4 -movflags +frag_keyframe+empty_moov+default_base_moof {output}"
)


# --------------------------------------------------------------------------
# Accepted templates
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        DEFAULT_RECORD_TEMPLATE,
        X264_TEMPLATE,
        "ffmpeg -i {input} -c:v libx264 -preset veryfast -crf 23 -g 25 -vf scale=1280:720,fps=15 {output}",
        "ffmpeg -i {input} -c:v copy -an {output}",
        "ffmpeg -y -loglevel level+warning -rtsp_transport tcp -rtsp_flags prefer_tcp -timeout 3000000"
        " -fflags +genpts+discardcorrupt -use_wallclock_as_timestamps 1 -i {input}"
        " -map 0:v:0 -map 0:a:0? -c:v libx265 -tag:v hvc1 -b:v 2M -maxrate 2500k -bufsize 4M"
        " -c:a aac -b:a 64k -f mov {output}",
        "ffmpeg -i {input} -c:v libx264 -vf scale=iw/2:-2,fps=30000/1001,setsar=1/1,format=yuv420p"
        " -pix_fmt yuv420p -profile:v high -level 4.1 -tune zerolatency {output}",
        "ffmpeg -i {input} -vf setpts=PTS-STARTPTS,transpose=1,hflip,yadif -c:v mjpeg -q:v 5 {output}",
        "ffmpeg -i {input} -c copy -f mpegts -metadata title=cam_1 {output}",
        # Quoting is fine: the template is split like a shell would, then validated.
        "ffmpeg -i '{input}' -vf 'scale=w=640:h=360' \"{output}\"",
    ],
)
def test_valid_templates_are_accepted(template: str) -> None:
    tokens = validate_template(template)
    assert tokens[0] == "ffmpeg"
    assert tokens[-1] == "{output}"
    assert tokens.count("{input}") == 1


def test_default_template_is_a_stream_copy_into_fragmented_mp4() -> None:
    tokens = validate_template(DEFAULT_RECORD_TEMPLATE)
    assert tokens[tokens.index("-c") + 1] == "copy"
    assert tokens[tokens.index("-f") + 1] in ("mp4", "mov")
    assert tokens[tokens.index("-rtsp_transport") + 1] == "tcp"
    assert "frag_keyframe" in tokens[tokens.index("-movflags") + 1]
    assert "empty_moov" in tokens[tokens.index("-movflags") + 1]


# --------------------------------------------------------------------------
# Refused templates: each must name the offending argument
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "argument"),
    [
        # Shell injection attempts (the template never reaches a shell, but they are refused).
        ("ffmpeg -i {input} {output}; rm -rf /tmp/x", "{output};"),
        ("ffmpeg -i {input} -metadata title=$(touch x) {output}", "title=$(touch"),
        ("ffmpeg -i {input} -metadata title=`touch x` {output}", "title=`touch"),
        ("ffmpeg -i {input} -c copy {output} && touch x", "&&"),
        ("ffmpeg -i {input} -c copy {output} > /tmp/log", ">"),
        ("ffmpeg -i {input} -metadata 'a=b|c' {output}", "a=b|c"),
        # Extra inputs.
        ("ffmpeg -i {input} -i {input} {output}", "-i"),
        ("ffmpeg -i {input} -i /etc/passwd {output}", "-i"),
        ("ffmpeg -i concat:a|b {output}", "concat:a|b"),
        ("ffmpeg -i file:/etc/passwd {output}", "file:/etc/passwd"),
        ("ffmpeg -i subfile:,start,0,end,0,:/etc/passwd {output}", "subfile:,start,0,end,0,:/etc/passwd"),
        ("ffmpeg -i rtsp://cam/x {output}", "rtsp://cam/x"),
        # Extra outputs and output protocols.
        ("ffmpeg -i {input} /tmp/out.mp4 {output}", "/tmp/out.mp4"),
        ("ffmpeg -i {input} -c copy pipe:1 {output}", "pipe:1"),
        ("ffmpeg -i {input} -c copy -f tee {output}", "tee"),
        ("ffmpeg -i {input} -f segment {output}", "segment"),
        ("ffmpeg -i {input} -f image2 {output}", "image2"),
        # Options that read or write files.
        ("ffmpeg -i {input} -filter_complex movie=/etc/passwd {output}", "-filter_complex"),
        ("ffmpeg -i {input} -lavfi movie=/etc/passwd {output}", "-lavfi"),
        ("ffmpeg -i {input} -vf drawtext=textfile=/etc/passwd {output}", "drawtext=textfile=/etc/passwd"),
        ("ffmpeg -i {input} -vf movie=/etc/passwd {output}", "movie=/etc/passwd"),
        ("ffmpeg -i {input} -vf subtitles=/etc/passwd {output}", "subtitles=/etc/passwd"),
        ("ffmpeg -i {input} -vf scale=/w=/etc/passwd {output}", "scale=/w=/etc/passwd"),
        ("ffmpeg -i {input} -vf scale=/etc/passwd {output}", "scale=/etc/passwd"),
        ("ffmpeg -i {input} -vf [in]scale=640:360[out] {output}", "[in]scale=640:360[out]"),
        ("ffmpeg -dump_attachment:t out.ttf -i {input} {output}", "-dump_attachment:t"),
        ("ffmpeg -i {input} -dump_attachment {output}", "-dump_attachment"),
        ("ffmpeg -i {input} -attach /etc/passwd {output}", "-attach"),
        ("ffmpeg -i {input} -progress /tmp/p {output}", "-progress"),
        ("ffmpeg -i {input} -vstats_file /tmp/v {output}", "-vstats_file"),
        ("ffmpeg -rtsp_flags listen -i {input} {output}", "listen"),
        # Options in the wrong place (an input option applies to the next file).
        ("ffmpeg -f mp4 -i {input} {output}", "-f"),
        ("ffmpeg -i {input} -rtsp_transport tcp {output}", "-rtsp_transport"),
        # Bad values for allowed options.
        ("ffmpeg -i {input} -c:v libfoo {output}", "libfoo"),
        ("ffmpeg -i {input} -crf -1 {output}", "-1"),
        ("ffmpeg -i {input} -map 1:v {output}", "1:v"),
        ("ffmpeg -i {input} -c {output}", "-c"),
        ("ffmpeg -i {input} -metadata title={input} {output}", "title={input}"),
        # Structure.
        ("/bin/sh -c 'ffmpeg -i {input} {output}'", "/bin/sh"),
        ("ffmpeg2 -i {input} {output}", "ffmpeg2"),
        ("/usr/bin/ffmpeg -i {input} {output}", "/usr/bin/ffmpeg"),
        ("ffmpeg -i {input} -c copy", "{output}"),
        ("ffmpeg -c:v copy {output}", "-i {input}"),
        ("ffmpeg -i {input} {output} -y", "-y"),
        ("ffmpeg -i {input} {output} {output}", "{output}"),
        ("ffmpeg -i {input} -c copy {input} {output}", "{input}"),
        ("ffmpeg -i", "{output}"),
        ("ffmpeg -i {input}\n{output}", "\\n"),
    ],
)
def test_hostile_templates_are_refused_naming_the_argument(template: str, argument: str) -> None:
    with pytest.raises(FfmpegCmdError) as excinfo:
        validate_template(template)
    assert excinfo.value.argument == argument
    assert f"'{argument}'" in str(excinfo.value)
    assert str(excinfo.value).startswith("ffmpeg_cmd: ")


def test_error_message_format() -> None:
    with pytest.raises(FfmpegCmdError) as excinfo:
        validate_template("ffmpeg -i {input} -dump_attachment {output}")
    assert str(excinfo.value) == "ffmpeg_cmd: option '-dump_attachment' is not allowed"
    assert excinfo.value.reason == "is not allowed"


def test_error_is_a_value_error() -> None:
    # pydantic turns a ValueError raised in a validator into a 422.
    with pytest.raises(ValueError, match="-filter_complex"):
        validate_template("ffmpeg -i {input} -filter_complex movie=x {output}")


def test_error_masks_credentials_typed_into_the_template() -> None:
    with pytest.raises(FfmpegCmdError) as excinfo:
        validate_template("ffmpeg -i rtsp://admin:hunter2@10.0.0.5/live {output}")
    assert "hunter2" not in str(excinfo.value)
    assert "hunter2" not in excinfo.value.argument
    assert "rtsp://admin:***@10.0.0.5/live" in str(excinfo.value)


@pytest.mark.parametrize("template", ["", "   ", "ffmpeg 'unbalanced -i {input} {output}"])
def test_unusable_templates_are_refused(template: str) -> None:
    with pytest.raises(FfmpegCmdError):
        validate_template(template)


def test_template_length_is_bounded() -> None:
    padding = " -an" * (MAX_TEMPLATE_LENGTH // 4)
    with pytest.raises(FfmpegCmdError, match="too long"):
        validate_template(f"ffmpeg -i {{input}}{padding} {{output}}")


@pytest.mark.parametrize("digits", ["٢٣", "２３"])
def test_numeric_values_are_ascii_only(digits: str) -> None:
    with pytest.raises(FfmpegCmdError):
        validate_template(f"ffmpeg -i {{input}} -crf {digits} {{output}}")


# --------------------------------------------------------------------------
# build_argv
# --------------------------------------------------------------------------


def test_build_argv_substitutes_whole_tokens() -> None:
    argv = build_argv(
        "ffmpeg -i {input} -c:v copy -an {output}", "rtsp://cam/live", "/rec/a.mp4", "/usr/bin/ffmpeg"
    )
    assert argv == ["/usr/bin/ffmpeg", "-i", "rtsp://cam/live", "-c:v", "copy", "-an", "/rec/a.mp4"]


@pytest.mark.parametrize("template", [None, "", "  "])
def test_build_argv_uses_the_default_template(template: str | None) -> None:
    argv = build_argv(template, "rtsp://cam/live", "/rec/a.mp4")
    expected = validate_template(DEFAULT_RECORD_TEMPLATE)
    expected[expected.index("{input}")] = "rtsp://cam/live"
    expected[-1] = "/rec/a.mp4"
    assert argv == expected
    assert argv[0] == "ffmpeg"


@pytest.mark.parametrize(
    "input_url",
    [
        "rtsp://admin:p%40ss w0rd@10.0.0.5:554/Streaming/Channels/101?transportmode=unicast&profile=1",
        "rtsp://u:a'b\"c;d$(e)`f`|g>h@cam/x y",
        "rtsp://cam/{output}",
    ],
)
def test_build_argv_keeps_the_url_as_one_argument(input_url: str) -> None:
    argv = build_argv(X264_TEMPLATE, input_url, "/data/rec dir/cam 1.mp4")
    assert argv[argv.index("-i") + 1] == input_url
    assert argv[-1] == "/data/rec dir/cam 1.mp4"
    assert len(argv) == len(validate_template(X264_TEMPLATE))


def test_build_argv_validates_the_template() -> None:
    with pytest.raises(FfmpegCmdError, match="-filter_complex"):
        build_argv("ffmpeg -i {input} -filter_complex movie=x {output}", "rtsp://cam/x", "/rec/a.mp4")


@pytest.mark.parametrize("output_path", ["", "-y", "pipe:1", "file:/rec/a.mp4", "/rec/\0a.mp4"])
def test_build_argv_refuses_unsafe_output_paths(output_path: str) -> None:
    with pytest.raises(FfmpegCmdError):
        build_argv(None, "rtsp://cam/x", output_path)


def test_build_argv_refuses_an_empty_input() -> None:
    with pytest.raises(FfmpegCmdError):
        build_argv(None, "", "/rec/a.mp4")
