"""The ffmpeg command lines of a camera session (agent.live.session): the one reader of a camera,
copying its video into fragmented MP4 on a pipe, and the decoders fed from the agent's copy.

Like every camera input (agent.ffmpeg.commands), the camera's URL goes in the concat script on stdin,
never on the command line."""

from __future__ import annotations

from urllib.parse import urlsplit

from agent.ffmpeg.commands import _COMMON, _RTSP_PROTOCOLS, FfmpegCommand, _concat_script
from agent.ffmpeg.fast_open import FAST_OPEN

# Fragments cut at every keyframe and at most this long (µs): a browser gets a fragment 5 times a
# second, so the delivery delay stays well under a second; each fragment carries a wall-clock `prft`.
FRAGMENT_US = 200_000
_FMP4 = ["-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
_FMP4 += ["-frag_duration", str(FRAGMENT_US), "-write_prft", "wallclock", "-flush_packets", "1"]
# Reading the agent's own fMP4 on a pipe: the moov says all; probing more (ffmpeg reads 20 frames
# for the frame rate) delays the first picture by a second (measured: 1.0 s -> 0.23 s).
_FROM_PIPE = ["-probesize", "32", "-fpsprobesize", "0", "-f", "mp4", "-i", "pipe:0"]


def session_command(url: str, ffmpeg_bin: str, *, io_timeout_s: float, audio: bool = True) -> FfmpegCommand:
    """The camera's video and its first audio track if it has one (`audio`), copied (nothing
    decoded), as fragmented MP4 on stdout. An audio codec MP4 cannot hold (G.711, which cameras use
    most) makes ffmpeg fail at once (`audio_refused`): run it again without audio."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("rtsp", "rtsps"):
        raise ValueError(f"not an RTSP URL (scheme {scheme!r})")
    options = {"rtsp_transport": "tcp", "allowed_media_types": "video+audio" if audio else "video"}
    options["timeout"] = str(round(io_timeout_s * 1_000_000))  # µs of socket silence before giving up
    options |= FAST_OPEN  # probing ends once the codec is known: the first keyframe, not 20 frames
    script = _concat_script(url, [f"option {key} {value}" for key, value in options.items()])
    argv = [ffmpeg_bin, *_COMMON, "-f", "concat", "-safe", "0", "-protocol_whitelist", _RTSP_PROTOCOLS]
    argv += [arg for key, value in FAST_OPEN.items() for arg in (f"-{key}", value)]
    argv += ["-i", "pipe:0", "-map", "0:v:0", *(["-map", "0:a:0?"] if audio else []), "-c", "copy", *_FMP4]
    return FfmpegCommand([*argv, "pipe:1"], script)


def audio_refused(stderr_tail: list[str]) -> bool:
    """Whether ffmpeg stopped because the MP4 muxer cannot hold the camera's audio codec."""
    return any(
        "Could not find tag for codec" in line or "not currently supported in container" in line
        for line in stderr_tail
    )


def jpeg_decoder_argv(ffmpeg_bin: str, fps: float, width: int | None = None) -> list[str]:
    """Fragmented MP4 on stdin (fed live) → `fps` JPEGs a second on stdout, scaled to `width` if set."""
    if fps <= 0:
        raise ValueError("fps must be positive")
    video_filter = f"fps={fps:g}" + (f",scale={width}:-2" if width else "")
    argv = [ffmpeg_bin, *_COMMON, *_FROM_PIPE, "-map", "0:v:0", "-vf", video_filter]
    return [*argv, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "pipe:1"]


def still_argv(ffmpeg_bin: str, frame_index: int) -> list[str]:
    """Fragmented MP4 on stdin (init + one keyframe's fragments) → the JPEG of frame `frame_index`."""
    select = f"select=eq(n\\,{max(0, frame_index)})"
    argv = [ffmpeg_bin, *_COMMON, *_FROM_PIPE, "-map", "0:v:0", "-vf", select, "-frames:v", "1"]
    return [*argv, "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "pipe:1"]
