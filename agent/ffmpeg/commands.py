"""Every ffmpeg and ffprobe command line the agent runs: pure functions, no I/O.

Snapshots, self-checks, recording an RTSP camera (from a validated template),
recording a picture-only camera (JPEGs fed on stdin), joining parts, and ffprobe's duration.

Camera URLs carry credentials (`rtsp://user:password@host/...`) and a command line is public
(`ps`, `/proc/PID/cmdline`). So an RTSP input is never put on the command line: ffmpeg reads a
one-line concat script (`ffconcat`) naming the URL from its stdin, and the command line says only
`-i pipe:0`. The protocol allow-list also keeps a crafted URL from reading local files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

from agent.ffmpeg.fast_open import FAST_OPEN
from agent.ffmpeg.tee import MUXER_OPTIONS, TEE_FIFO_OPTIONS, tee_target
from shared.ffmpeg_cmd import ALLOWED_OPTIONS, DEFAULT_RECORD_TEMPLATE, build_argv

# ffmpeg reads the script from pipe:; RTSP itself needs tcp/udp/rtp, rtsps needs tls.
_RTSP_PROTOCOLS = "pipe,rtsp,rtsps,tcp,udp,rtp,tls"
_COMMON = ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
# Measured on the H.264 test camera: a cold grab in ~0.3 s instead of ~1.3 s with default probing.
_FAST_PROBE = {"analyzeduration": "0", "probesize": "32"}
TEST_SIZE = "640x360"
# Demuxer (AVFormatContext / RTSP) options of a recording template: they belong to the inner input
# the script opens, where they reach the RTSP demuxer.
_INNER_OPTIONS = frozenset(
    {
        "-rtsp_transport",
        "-rtsp_flags",
        "-timeout",
        "-analyzeduration",
        "-probesize",
        "-fflags",
        "-use_wallclock_as_timestamps",
    }
)
# A template that sets either of these has chosen how the camera is probed: no fast open is added.
_PROBING_OPTIONS = frozenset({"-analyzeduration", "-probesize"})
_KEYFRAME_EVERY_S = 2.0  # a time-lapse fragment per keyframe: at most this much is lost on a kill


@dataclass(frozen=True)
class InPlaceOutput:
    """A recording ffmpeg that continues the record's file itself (`RecordFile.begin_in_place`):
    it writes to the inherited descriptor `fd` (opened to append), numbers its first fragment
    `fragment_index` and starts its media at `ts_offset_s`."""

    fd: int
    fragment_index: int
    ts_offset_s: float


# The file muxer's flags for an in-place ffmpeg: its header only with its first fragment (which the
# record's file checks and blanks), that fragment's decode time from the packets (which carry the
# offset), no closing index (its offsets would be its own, not the file's).
_IN_PLACE_FLAGS = "+frag_discont+delay_moov+skip_trailer"
# ...and decode times from the packets' decode times: with an edit list the muxer takes the first
# presentation time (unknown for a B-frame camera's first packet), without one and with times made
# to start at zero it drops the offset.
_IN_PLACE_OPTIONS = ["-use_editlist", "0", "-avoid_negative_ts", "make_non_negative"]


@dataclass(frozen=True)
class FfmpegCommand:
    """An ffmpeg invocation: `argv` is safe to show; `stdin` carries what must not be shown."""

    argv: list[str]
    stdin: bytes | None = None


def rtsp_input(url: str, *, fast_probe: bool = True, io_timeout_s: float | None = None) -> FfmpegCommand:
    """The input half of a command reading `url`: options + `-i pipe:0`, and the script for stdin.

    `io_timeout_s` makes ffmpeg give up when the socket is silent that long (ffmpeg's default is
    to wait forever).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("rtsp", "rtsps"):
        raise ValueError(f"not an RTSP URL (scheme {scheme!r})")
    # TCP: UDP loses packets (smeared frames) and rarely passes NAT. Video only: no audio track is
    # set up, and with fast probing an audio track could hide the video's parameters.
    options = {"rtsp_transport": "tcp", "allowed_media_types": "video"}
    if io_timeout_s is not None:
        options["timeout"] = str(round(io_timeout_s * 1_000_000))  # microseconds
    if fast_probe:
        options |= _FAST_PROBE
    script = _concat_script(url, [f"option {key} {value}" for key, value in options.items()])
    # The concat demuxer opens the camera with the options above; these flags apply to the script
    # itself, and the outer probing must be fast too or it undoes the inner fast probing.
    argv = ["-f", "concat", "-safe", "0", "-protocol_whitelist", _RTSP_PROTOCOLS]
    if fast_probe:
        argv += [arg for key, value in _FAST_PROBE.items() for arg in (f"-{key}", value)]
    return FfmpegCommand([*argv, "-i", "pipe:0"], script)


def snapshot_command(
    url: str, ffmpeg_bin: str, *, fast_probe: bool = True, io_timeout_s: float | None = None
) -> FfmpegCommand:
    """One JPEG of the RTSP stream `url` on stdout."""
    source = rtsp_input(url, fast_probe=fast_probe, io_timeout_s=io_timeout_s)
    argv = [ffmpeg_bin, *_COMMON, *source.argv, "-map", "0:v:0", "-frames:v", "1"]
    return FfmpegCommand([*argv, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "pipe:1"], source.stdin)


def test_image_argv(ffmpeg_bin: str) -> list[str]:
    """One JPEG of ffmpeg's test pattern on stdout (the /test/img self-check)."""
    source = ["-f", "lavfi", "-i", f"testsrc2=size={TEST_SIZE}:rate=1"]
    return [ffmpeg_bin, *_COMMON, *source, "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"]


def test_video_argv(frames: int, fps: float, ffmpeg_bin: str) -> list[str]:
    """`frames` JPEGs of the moving test pattern on stdout, paced in real time at `fps`."""
    if frames <= 0 or fps <= 0:
        raise ValueError("frames and fps must be positive")
    # -re paces the output, so a viewer sees a video rather than a burst of images.
    source = ["-re", "-f", "lavfi", "-i", f"testsrc2=size={TEST_SIZE}:rate={fps:g}"]
    argv = [ffmpeg_bin, *_COMMON, *source, "-frames:v", str(frames)]
    return [*argv, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "pipe:1"]


def record_command(
    template: str | None,
    rtsp_url: str,
    output: str,
    ffmpeg_bin: str,
    *,
    open_options: Mapping[str, str] = FAST_OPEN,
    live_fragment_us: int | None = None,
    in_place: InPlaceOutput | None = None,
) -> FfmpegCommand:
    """The argv (safe to show) and the stdin script (secret) that record `rtsp_url` into `output`.

    `shared.ffmpeg_cmd.build_argv` puts the input where `{input}` is; here that is `pipe:0`, and the
    template's options that configure how the camera is read move into the script (`option key
    value`); the rest of the validated template is kept as it is.

    `open_options` (`fast_open.FAST_OPEN`; `{}`: ffmpeg's default probing) go to the camera and to the
    script, unless the template sets the probing itself.

    `live_fragment_us` (the default template only: `records_live`): ffmpeg also writes the camera's
    video as fragmented MP4 of fragments this long on stdout, through a tee (agent.ffmpeg.tee).

    `in_place` (the default template only): the file is written to `pipe:<fd>` instead of `output`,
    continuing the record's file (`InPlaceOutput`).
    """
    argv = build_argv(template, "pipe:0", output, ffmpeg_bin)  # validates the template
    split = argv.index("-i")
    outer, options = [argv[0]], []
    index = 1
    while index < split:
        arg = argv[index]
        # The template is validated: every argument before -i is an allow-listed option.
        takes_value = ALLOWED_OPTIONS[arg].value is not None
        if arg in _INNER_OPTIONS and takes_value:
            options.append(f"option {arg[1:]} {argv[index + 1]}")
        else:
            outer += argv[index : index + 2] if takes_value else [arg]
        index += 2 if takes_value else 1
    if _PROBING_OPTIONS.isdisjoint(argv[:split]):
        # The concat demuxer probes what the camera's demuxer gave it once more: both must open fast.
        options += [f"option {key} {value}" for key, value in open_options.items()]
        outer += [arg for key, value in open_options.items() for arg in (f"-{key}", value)]
    script = _concat_script(rtsp_url, options)
    outer += ["-f", "concat", "-safe", "0", "-protocol_whitelist", _RTSP_PROTOCOLS]
    rest = argv[split:]
    if in_place is not None:
        if not records_live(template):
            raise ValueError("only the default recording template continues a record's file in place")
        rest = _in_place(rest, in_place)
    if live_fragment_us is not None:
        if not records_live(template):
            raise ValueError("only the default recording template has a live copy")
        rest = _teed(rest, live_fragment_us)
    return FfmpegCommand([*outer, *rest], script)


def records_live(template: str | None) -> bool:
    """Whether a recording of this template can feed the source's live view too: the default one
    (a user's template may cut, filter or transcode what it records: its camera keeps its own live
    session)."""
    return not template or not template.strip() or template.strip() == DEFAULT_RECORD_TEMPLATE


def _in_place(output: list[str], target: InPlaceOutput) -> list[str]:
    """`-i pipe:0 <options> <file>` of the default template writing `pipe:<fd>` in place of the file."""
    options = list(output[2:-1])
    flags = options.index("-movflags") + 1
    options[flags] += _IN_PLACE_FLAGS
    options += ["-fragment_index", str(target.fragment_index), *_IN_PLACE_OPTIONS]
    options += ["-output_ts_offset", f"{target.ts_offset_s:.6f}"]
    return [*output[:2], *options, f"pipe:{target.fd}"]


def _teed(output: list[str], fragment_us: int) -> list[str]:
    """`-i pipe:0 <options> <file>` of the default template with the file's muxer options moved
    into the tee's file slave, and the live slave added."""
    head, options, muxer = output[:2], output[2:-1], {}
    kept: list[str] = []
    for option, value in zip(options[::2], options[1::2], strict=True):
        if option in MUXER_OPTIONS:
            muxer[option[1:]] = value
        else:
            kept += [option, value]
    target = tee_target(muxer, output[-1], fragment_us)
    return [*head, *kept, *TEE_FIFO_OPTIONS, "-f", "tee", target]


def camera_error(line: str) -> str:
    """One of ffmpeg's error lines as a camera's error: without `pipe:0: `, the script input that
    ffmpeg reads the camera through and names before what the camera did (nothing a user knows)."""
    return line.removeprefix("pipe:0: ")


def picture_record_argv(ffmpeg_bin: str, output: Path, interval_s: float) -> list[str]:
    """ffmpeg reading JPEGs on stdin, one every `interval_s` of video time, into an H.264 fMP4."""
    rate = 1 / Fraction(interval_s).limit_denominator(1000)
    gop = max(1, round(_KEYFRAME_EVERY_S / interval_s))
    argv = [ffmpeg_bin, "-hide_banner", "-loglevel", "warning"]
    argv += ["-f", "image2pipe", "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0"]
    # Even sizes: yuv420p cannot hold an odd width or height. zerolatency: no look-ahead, so each
    # frame is encoded (and its fragment written) when it arrives, not dozens of frames later.
    argv += ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast"]
    argv += ["-tune", "zerolatency", "-g", str(gop), "-pix_fmt", "yuv420p"]
    argv += ["-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1"]
    return [*argv, str(output)]


def remux_argv(ffmpeg_bin: str, source: list[str], output: Path, muxer: str) -> list[str]:
    """A stream-copy remux of `source` (input options + `-i`) into `output`, index in front."""
    argv = [ffmpeg_bin, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *source]
    return [*argv, "-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", muxer, str(output)]


def ffprobe_duration_argv(ffmpeg_bin: str, path: Path) -> list[str]:
    """ffprobe (next to the configured ffmpeg) printing the media duration of `path` as JSON."""
    sibling = Path(ffmpeg_bin).with_name("ffprobe")
    ffprobe = str(sibling) if os.sep in ffmpeg_bin and sibling.exists() else "ffprobe"
    return [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)]


def concat_list(paths: list[Path]) -> str:
    """An ffconcat file listing `paths` in order (the concat demuxer joins them by stream copy)."""
    return "\n".join(["ffconcat version 1.0", *(f"file {_quote(str(p))}" for p in paths)]) + "\n"


def _concat_script(url: str, options: list[str]) -> bytes:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("control characters in the RTSP URL")  # a newline would add script lines
    return ("\n".join(["ffconcat version 1.0", f"file {_quote(url)}", *options]) + "\n").encode()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
