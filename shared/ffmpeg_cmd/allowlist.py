"""The allow-list of ffmpeg options a recording template may use, each with its value validator.

Anything not listed here is refused by `shared.ffmpeg_cmd.template`. A validator returns None when
the value is acceptable, or a short description of what was expected.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

# --------------------------------------------------------------------------
# Value validators: each returns None when the value is acceptable, or a short
# human-readable description of what was expected.
# --------------------------------------------------------------------------

Validator = Callable[[str], str | None]


def _one_of(*choices: str) -> Validator:
    allowed = frozenset(choices)

    def check(value: str) -> str | None:
        return None if value in allowed else f"expected one of {', '.join(sorted(allowed))}"

    return check


def _matches(pattern: str, description: str) -> Validator:
    # ASCII: r"\d" must not accept other scripts' digits, which ffmpeg would not parse.
    regex = re.compile(pattern, re.ASCII)

    def check(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"expected {description}"

    return check


def _flag_set(*names: str) -> Validator:
    """Flags joined with "+" (``+frag_keyframe+empty_moov``), each from *names*.

    ffmpeg's flag syntax also allows "-flag" to clear a default; that is not
    needed here and is refused.
    """
    allowed = frozenset(names)
    expected = f"'+'-joined flags from {', '.join(sorted(allowed))}"

    def check(value: str) -> str | None:
        parts = value.removeprefix("+").split("+")
        return None if all(p in allowed for p in parts) else expected

    return check


_INT = _matches(r"\d{1,12}", "a non-negative integer")
_BOOL01 = _one_of("0", "1")
_NUMBER = _matches(r"\d{1,6}(?:\.\d{1,6})?", "a non-negative number")
_BITRATE = _matches(r"\d{1,9}[kKmM]?", "a bit rate such as 2000k or 4M")

_LOG_LEVELS = frozenset(("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace"))
_LOG_FLAGS = frozenset(("repeat", "level"))


def _log_level(value: str) -> str | None:
    """``warning``, or with ffmpeg's log flags: ``level+warning``, ``+repeat+level+info``."""
    parts = [p for p in value.split("+") if p]
    levels = [p for p in parts if p in _LOG_LEVELS]
    if len(levels) == 1 and all(p in _LOG_LEVELS or p in _LOG_FLAGS for p in parts):
        return None
    return f"a log level ({', '.join(sorted(_LOG_LEVELS))}), optionally with '+'-joined repeat/level flags"


# Encoders (and "copy") that make sense for recording camera streams. Hardware
# encoders are left out on purpose: they need device options (-vaapi_device,
# -hwaccel_device) that point at host paths and are not allow-listed.
ALLOWED_CODECS = frozenset(
    (
        "copy",
        "libx264",
        "libx265",
        "h264",
        "hevc",
        "mjpeg",
        "mpeg4",
        "libvpx-vp9",
        "aac",
        "libopus",
        "pcm_mulaw",
        "pcm_alaw",
    )
)

# Video filters allowed in -vf. None of them has an option that opens a file,
# device or URL (unlike movie, amovie, drawtext's textfile/fontfile,
# subtitles, ass, lut3d, haldclut ... which are simply absent).
ALLOWED_FILTERS = frozenset(
    ("scale", "fps", "format", "setpts", "crop", "transpose", "hflip", "vflip", "setsar", "yadif")
)

# Filter-graph syntax that is refused outright: quoting and escaping (which
# would let "," or ":" hide inside a value and defeat the split below), link
# labels (only meaningful in complex graphs) and whitespace.
_FILTER_FORBIDDEN_CHARS = frozenset("'\"\\[] \t")
_FILTER_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_FILTER_KEY_RE = re.compile(r"[a-z][a-z0-9_]*")
# Expression values: numbers, identifiers (iw, ih, PTS, STARTPTS, yuv420p),
# arithmetic and parentheses. "/" is needed for iw/2, 30000/1001 or setsar=1/1,
# so it is allowed only as a division operator between two operands: a value
# can never start with "/" or contain "//" or "/.", i.e. never look like a path
# (ffmpeg >= 7 also reads an option from a file when its *name* starts with
# "/", which _FILTER_KEY_RE refuses).
_FILTER_VALUE_RE = re.compile(r"[A-Za-z0-9_.+\-*()]+(?:/[A-Za-z0-9_(][A-Za-z0-9_.+\-*()]*)*")


def _filter_args(name: str, args: str) -> str | None:
    """Check the ``a:b:key=value`` argument list of one allow-listed filter."""
    for item in args.split(":"):
        key, eq, value = item.partition("=")
        if not eq:
            key, value = "", item
        if eq and not _FILTER_KEY_RE.fullmatch(key):
            return f"filter '{name}' has an invalid option name '{key}'"
        if not _FILTER_VALUE_RE.fullmatch(value):
            return f"filter '{name}' has a value '{value}' that is not a plain number or expression"
    return None


def _filter_graph(value: str) -> str | None:
    """A simple -vf chain: ``name[=args],name[=args]...`` with allow-listed filters."""
    bad = sorted(set(value) & _FILTER_FORBIDDEN_CHARS)
    if bad:
        return f"a simple filter chain without quotes, escapes, labels or spaces (found {bad[0]!r})"
    for part in value.split(","):
        name, eq, args = part.partition("=")
        if not _FILTER_NAME_RE.fullmatch(name):
            return f"a filter name, got '{name}'"
        if name not in ALLOWED_FILTERS:
            return f"filters from {', '.join(sorted(ALLOWED_FILTERS))}; filter '{name}' is not allowed"
        if eq:
            problem = _filter_args(name, args)
            if problem:
                return problem
    return None


_METADATA = _matches(r"[A-Za-z0-9_]{1,64}=[A-Za-z0-9 _.,:+\-]{0,200}", "key=value with plain characters")


# --------------------------------------------------------------------------
# The allow-list
# --------------------------------------------------------------------------


class Scope(enum.Enum):
    """Where an option may appear: ffmpeg applies options to the next file."""

    GLOBAL = "anywhere"
    INPUT = "before -i {input}"  # applies to the camera input (demuxer/protocol)
    OUTPUT = "after -i {input}"  # applies to {output} (encoder/muxer)


@dataclass(frozen=True)
class OptionSpec:
    scope: Scope
    value: Validator | None = None  # None: a flag that takes no value


def _specs(scope: Scope, validator: Validator | None, *names: str) -> dict[str, OptionSpec]:
    return {name: OptionSpec(scope, validator) for name in names}


_G, _I, _O = Scope.GLOBAL, Scope.INPUT, Scope.OUTPUT

ALLOWED_OPTIONS: dict[str, OptionSpec] = {
    # Global: logging and interaction. -y is allowed (the agent picks the path).
    **_specs(_G, None, "-hide_banner", "-nostdin", "-nostats", "-y"),
    **_specs(_G, _log_level, "-loglevel", "-v"),
    # Input: how the camera is read. No option here can name a file or a second URL.
    "-rtsp_transport": OptionSpec(_I, _flag_set("tcp", "udp", "udp_multicast", "http", "https")),
    # "listen" (turn ffmpeg into a server) and "satip_raw" are deliberately absent.
    "-rtsp_flags": OptionSpec(_I, _flag_set("prefer_tcp", "filter_src")),
    # -timeout (µs) is the socket I/O time-out of the RTSP demuxer and of http/tcp inputs. Not
    # -stimeout (removed in ffmpeg 5) nor -rw_timeout (ffmpeg 5.1 refuses it for RTSP inputs).
    **_specs(_I, _INT, "-timeout", "-analyzeduration", "-probesize", "-thread_queue_size"),
    "-fflags": OptionSpec(
        _I, _flag_set("genpts", "igndts", "ignidx", "discardcorrupt", "nobuffer", "nofillin")
    ),
    "-use_wallclock_as_timestamps": OptionSpec(_I, _BOOL01),
    "-re": OptionSpec(_I),
    # Output: stream selection.
    "-map": OptionSpec(
        _O, _matches(r"0(?::[vas](?::\d{1,2})?|:\d{1,2})?\??", "0, 0:v, 0:a:0, 0:1 ... (optional ?)")
    ),
    **_specs(_O, None, "-an", "-vn", "-sn", "-dn"),
    # Output: codecs and encoder settings.
    **_specs(
        _O,
        _one_of(*ALLOWED_CODECS),
        "-c",
        "-codec",
        "-c:v",
        "-c:a",
        "-c:s",
        "-vcodec",
        "-acodec",
    ),
    **_specs(_O, _BITRATE, "-b:v", "-b:a", "-maxrate", "-bufsize", "-minrate"),
    **_specs(_O, _NUMBER, "-crf", "-q:v"),
    **_specs(_O, _INT, "-qp", "-g", "-keyint_min", "-bf", "-frames:v", "-threads", "-ar", "-ac"),
    "-r": OptionSpec(
        _O, _matches(r"\d{1,6}(?:\.\d{1,6}|/\d{1,6})?", "a frame rate such as 25, 12.5 or 30000/1001")
    ),
    "-preset": OptionSpec(
        _O,
        _one_of(
            "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
        ),
    ),
    "-tune": OptionSpec(_O, _one_of("zerolatency", "film", "animation", "fastdecode", "grain", "stillimage")),
    "-profile:v": OptionSpec(_O, _one_of("baseline", "main", "high", "main10")),
    "-level": OptionSpec(_O, _matches(r"\d(?:\.\d)?|\d{2}", "a level such as 4.1 or 41")),
    "-pix_fmt": OptionSpec(_O, _one_of("yuv420p", "yuvj420p", "nv12")),
    "-tag:v": OptionSpec(_O, _one_of("avc1", "hvc1", "hev1")),
    "-s": OptionSpec(_O, _matches(r"\d{1,5}x\d{1,5}", "a size WxH such as 1280x720")),
    "-aspect": OptionSpec(
        _O, _matches(r"\d{1,5}:\d{1,5}|\d{1,3}(?:\.\d{1,6})?", "an aspect ratio such as 16:9")
    ),
    **_specs(_O, _filter_graph, "-vf", "-filter:v"),
    # Output: container. Only muxers that write exactly one local file: not
    # tee, segment, hls, dash, image2 (patterns, side files, extra outputs).
    "-f": OptionSpec(_O, _one_of("mp4", "mov", "matroska", "mpegts")),
    "-movflags": OptionSpec(
        _O,
        _flag_set("frag_keyframe", "empty_moov", "default_base_moof", "faststart", "separate_moof"),
    ),
    **_specs(_O, _INT, "-frag_duration", "-min_frag_duration", "-max_muxing_queue_size"),
    **_specs(_O, _BOOL01, "-reset_timestamps", "-flush_packets"),
    "-avoid_negative_ts": OptionSpec(_O, _one_of("auto", "disabled", "make_non_negative", "make_zero")),
    "-metadata": OptionSpec(_O, _METADATA),
}
