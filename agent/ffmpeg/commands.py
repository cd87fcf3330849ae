"""The ffmpeg command lines the agent runs for pictures: pure functions, no I/O.

Camera URLs carry credentials (`rtsp://user:password@host/...`) and a command line is public
(`ps`, `/proc/PID/cmdline`). So an RTSP input is never put on the command line: ffmpeg reads a
one-line concat script (`ffconcat`) naming the URL from its stdin, and the command line says only
`-i pipe:0`. The protocol allow-list also keeps a crafted URL from reading local files.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# ffmpeg reads the script from pipe:; RTSP itself needs tcp/udp/rtp, rtsps needs tls.
_RTSP_PROTOCOLS = "pipe,rtsp,rtsps,tcp,udp,rtp,tls"
_COMMON = ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
# Measured on the H.264 test camera: a cold grab in ~0.3 s instead of ~1.3 s with default probing.
_FAST_PROBE = {"analyzeduration": "0", "probesize": "32"}
TEST_SIZE = "640x360"


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
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("control characters in the RTSP URL")  # a newline would add script lines
    # TCP: UDP loses packets (smeared frames) and rarely passes NAT. Video only: no audio track is
    # set up, and with fast probing an audio track could hide the video's parameters.
    options = {"rtsp_transport": "tcp", "allowed_media_types": "video"}
    if io_timeout_s is not None:
        options["timeout"] = str(round(io_timeout_s * 1_000_000))  # microseconds
    if fast_probe:
        options |= _FAST_PROBE
    quoted = "'" + url.replace("'", "'\\''") + "'"
    script = "ffconcat version 1.0\nfile " + quoted + "\n"
    script += "".join(f"option {key} {value}\n" for key, value in options.items())
    # The concat demuxer opens the camera with the options above; these flags apply to the script
    # itself, and the outer probing must be fast too or it undoes the inner fast probing.
    argv = ["-f", "concat", "-safe", "0", "-protocol_whitelist", _RTSP_PROTOCOLS]
    if fast_probe:
        argv += [arg for key, value in _FAST_PROBE.items() for arg in (f"-{key}", value)]
    return FfmpegCommand([*argv, "-i", "pipe:0"], script.encode())


def snapshot_command(
    url: str, ffmpeg_bin: str, *, fast_probe: bool = True, io_timeout_s: float | None = None
) -> FfmpegCommand:
    """One JPEG of the RTSP stream `url` on stdout."""
    source = rtsp_input(url, fast_probe=fast_probe, io_timeout_s=io_timeout_s)
    argv = [ffmpeg_bin, *_COMMON, *source.argv, "-map", "0:v:0", "-frames:v", "1"]
    return FfmpegCommand([*argv, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "pipe:1"], source.stdin)


def live_command(
    url: str, fps: float, ffmpeg_bin: str, width: int | None = None, *, io_timeout_s: float | None = 10.0
) -> FfmpegCommand:
    """An endless MJPEG stream of `url` on stdout: `fps` JPEGs per second, scaled to `width` if set."""
    if fps <= 0:
        raise ValueError("fps must be positive")
    source = rtsp_input(url, fast_probe=True, io_timeout_s=io_timeout_s)
    video_filter = f"fps={fps:g}" + (f",scale={width}:-2" if width else "")
    argv = [ffmpeg_bin, *_COMMON, *source.argv, "-map", "0:v:0", "-vf", video_filter]
    return FfmpegCommand([*argv, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "pipe:1"], source.stdin)


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
