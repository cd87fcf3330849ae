"""Validation of per-source ffmpeg command templates, and the argv built from them.

This module owns the only path from a user-supplied ``ffmpeg_cmd`` template to
a process: the control plane calls :func:`validate_template` when a source is
written (a :class:`FfmpegCmdError` becomes a 422 naming the offending
argument), and the recorder agent calls :func:`build_argv` to get the argv it
hands to ``subprocess`` -- never to a shell.

The template is untrusted: ffmpeg can read and write arbitrary files and
network locations (a second ``-i``, a second output, ``-filter_complex
movie=/etc/passwd``, ``file:``/``concat:`` URLs, ``-dump_attachment``, the
``tee`` muxer ...). The validation is therefore an ALLOW-LIST: the template is
split into arguments and every argument must be ``ffmpeg``, the single
``-i {input}``, the final ``{output}``, an allow-listed option, or a value
accepted by that option's validator. Anything not explicitly known is refused.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from shared.redact import redact_text

__all__ = [
    "ALLOWED_FILTERS",
    "ALLOWED_OPTIONS",
    "DEFAULT_RECORD_TEMPLATE",
    "INPUT_PLACEHOLDER",
    "MAX_TEMPLATE_LENGTH",
    "OUTPUT_PLACEHOLDER",
    "FfmpegCmdError",
    "build_argv",
    "validate_template",
]

INPUT_PLACEHOLDER = "{input}"
OUTPUT_PLACEHOLDER = "{output}"
MAX_TEMPLATE_LENGTH = 2000

# Stream copy from RTSP (interleaved over the TCP control connection: no UDP
# ports to open, no packet loss) into fragmented MP4/QuickTime:
# * ``empty_moov`` writes the header up front and ``frag_keyframe`` +
#   ``frag_duration`` (µs) cut a self-contained fragment at least every second;
#   ``-flush_packets 1`` pushes each fragment to the file as soon as it is
#   complete instead of leaving up to 32 KiB in ffmpeg's I/O buffer. A file
#   whose ffmpeg was SIGKILLed (agent crash, OOM, power loss) therefore ends on
#   a fragment boundary and plays cleanly up to its last second -- a plain MP4
#   would be unreadable without the moov written at exit.
# * ``-f mov`` rather than ``-f mp4``: same ISO-BMFF file structure and flags,
#   but the mp4 muxer refuses G.711 (pcm_mulaw/pcm_alaw), the most common IP
#   camera audio codec, which would make every such camera fail to record
#   without a transcode. mov stream-copies H.264/H.265 with G.711 or AAC.
# * ``-timeout`` is the RTSP demuxer's socket I/O time-out in µs (ffmpeg >= 5;
#   ``-stimeout`` was removed in 5.0, and in ffmpeg 4 ``-timeout`` meant
#   "listen"): a camera that stops sending makes ffmpeg exit after 5 s instead
#   of hanging forever, so the agent's supervisor can restart it.
# * ``-map 0:a?`` records audio when the camera has it and is not an error otherwise.
DEFAULT_RECORD_TEMPLATE = (
    "ffmpeg -hide_banner -nostdin -loglevel warning"
    " -rtsp_transport tcp -timeout 5000000"
    " -i {input}"
    " -map 0:v -map 0:a? -c copy"
    " -f mov -movflags +frag_keyframe+empty_moov+default_base_moof -frag_duration 1000000"
    " -flush_packets 1"
    " {output}"
)

# Characters that mean something to a shell. The template never reaches a
# shell, but a token containing one of them is either an injection attempt or
# a misunderstanding of how the template is run, and no allow-listed value
# needs them. "$" covers "$(...)" and "${VAR}"; "|" also covers "concat:a|b".
_SHELL_METACHARACTERS = (";", "|", "&", "$", "`", ">", "<")

# Looks like "scheme:" at the start of a value: ffmpeg would treat it as a
# protocol (file:, concat:, subfile:, pipe:, http:, tcp:, data: ...).
_PROTOCOL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


class FfmpegCmdError(ValueError):
    """A template (or build argument) was refused.

    ``argument`` is the offending token, with any credentials masked, and
    ``reason`` says why. ``str()`` names both, e.g.
    ``ffmpeg_cmd: option '-dump_attachment' is not allowed``; it is safe to
    return to API clients as is.
    """

    def __init__(self, argument: str, reason: str, *, kind: str = "argument") -> None:
        # The argument is echoed back to API clients and logs: mask credentials
        # (a URL typed straight into the template) and bound its length.
        self.argument = redact_text(argument)
        self.reason = reason
        self.kind = kind
        shown = self.argument if len(self.argument) <= 80 else self.argument[:77] + "..."
        super().__init__(f"ffmpeg_cmd: {kind} '{shown}' {reason}")


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


# --------------------------------------------------------------------------
# Template validation
# --------------------------------------------------------------------------


def _split(template: str) -> list[str]:
    """Length/character checks on the raw text, then a POSIX shell-like split."""
    if not isinstance(template, str):
        raise FfmpegCmdError(type(template).__name__, "is not a string", kind="template of type")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise FfmpegCmdError(
            template[:40],
            f"is too long ({len(template)} > {MAX_TEMPLATE_LENGTH} characters)",
            kind="template",
        )
    for char in template:
        # Newlines would be command separators in a shell; NUL cannot be
        # passed to exec at all; other control characters have no use here.
        if char in "\n\r\0" or (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F:
            raise FfmpegCmdError(repr(char)[1:-1], "is not allowed (control character)", kind="character")
    try:
        return shlex.split(template, posix=True)
    except ValueError as exc:  # unbalanced quotes, dangling backslash
        raise FfmpegCmdError(
            template[:40], f"cannot be split into arguments: {exc}", kind="template"
        ) from None


def _check_token_text(token: str) -> None:
    """Per-token checks that hold regardless of the token's position."""
    for meta in _SHELL_METACHARACTERS:
        if meta in token:
            raise FfmpegCmdError(token, f"contains the shell metacharacter {meta!r}, which is not allowed")
    # Placeholders are only substituted as whole tokens; one embedded in a
    # larger value ("-metadata title={input}") would otherwise copy the camera
    # URL, credentials included, into the recording.
    if token not in (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER) and ("{" in token or "}" in token):
        raise FfmpegCmdError(token, "contains '{' or '}': placeholders must be whole arguments")


def _check_program(tokens: list[str]) -> None:
    if not tokens:
        raise FfmpegCmdError("", "is empty", kind="template")
    if tokens[0] != "ffmpeg":
        raise FfmpegCmdError(
            tokens[0], "is not allowed as the program: the template must start with 'ffmpeg'"
        )


def _check_structure(tokens: list[str]) -> None:
    """``-i`` present and ``{output}`` last (the argument walk checks the rest)."""
    if "-i" not in tokens:
        raise FfmpegCmdError("-i {input}", "is missing: the template needs exactly one '-i {input}'")
    if tokens[-1] != OUTPUT_PLACEHOLDER:
        if OUTPUT_PLACEHOLDER not in tokens:
            raise FfmpegCmdError(OUTPUT_PLACEHOLDER, "is missing: the template must end with {output}")
        raise FfmpegCmdError(tokens[-1], "follows {output}: {output} must be the last argument")


def _protocol_hint(value: str) -> str:
    match = _PROTOCOL_RE.match(value)
    return f" (a '{match.group(1)}:' URL or protocol is not allowed here)" if match else ""


def _check_input(value: str | None, seen_input: bool) -> None:
    if seen_input:
        raise FfmpegCmdError("-i", "is not allowed a second time: the template has exactly one input")
    if value is None:
        raise FfmpegCmdError("-i", "has no value: expected '-i {input}'")
    if value != INPUT_PLACEHOLDER:
        raise FfmpegCmdError(
            value, f"is not allowed as the input{_protocol_hint(value)}: expected exactly '-i {{input}}'"
        )


def _check_option(option: str, value: str | None, seen_input: bool) -> OptionSpec:
    """Validate one option and its value; returns its spec so the caller knows its arity."""
    spec = ALLOWED_OPTIONS.get(option)
    if spec is None:
        raise FfmpegCmdError(option, "is not allowed", kind="option")
    if (spec.scope is Scope.INPUT and seen_input) or (spec.scope is Scope.OUTPUT and not seen_input):
        raise FfmpegCmdError(option, f"must come {spec.scope.value}", kind="option")
    if spec.value is None:
        return spec
    if value is None or value == OUTPUT_PLACEHOLDER:
        raise FfmpegCmdError(option, "needs a value", kind="option")
    expected = spec.value(value)
    if expected is not None:
        raise FfmpegCmdError(
            value, f"is not allowed for {option}{_protocol_hint(value)}: {expected}", kind="value"
        )
    return spec


def _check_arguments(body: list[str]) -> None:
    """Walk the arguments between ``ffmpeg`` and the final ``{output}``."""
    seen_input = False
    index = 0
    while index < len(body):
        arg = body[index]
        value = body[index + 1] if index + 1 < len(body) else None
        if arg == "-i":
            _check_input(value, seen_input)
            seen_input = True
            index += 2
        elif arg in (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER):
            raise FfmpegCmdError(arg, "must appear exactly once, as '-i {input}' and as the last argument")
        elif not arg.startswith("-"):
            # A bare word that is not an option value is a file name to ffmpeg:
            # an additional output (or, before -i, garbage).
            raise FfmpegCmdError(
                arg, f"is not allowed: only {{output}} may be an output file{_protocol_hint(arg)}"
            )
        else:
            spec = _check_option(arg, value, seen_input)
            index += 1 if spec.value is None else 2
    if not seen_input:
        raise FfmpegCmdError("-i {input}", "is missing: the template needs exactly one '-i {input}'")


def validate_template(template: str) -> list[str]:
    """Validate an ``ffmpeg_cmd`` template and return its arguments (placeholders kept).

    Raises :class:`FfmpegCmdError` (a ``ValueError``, so a pydantic validator
    turns it into a 422) naming the first offending argument.
    """
    tokens = _split(template)
    _check_program(tokens)
    # Character-level checks before the structural ones, so that
    # "... {output}; rm -rf /" is reported as the injection it is rather than
    # as a missing {output}.
    for token in tokens:
        _check_token_text(token)
    _check_structure(tokens)
    _check_arguments(tokens[1:-1])
    return tokens


# --------------------------------------------------------------------------
# argv construction (recorder agent)
# --------------------------------------------------------------------------


def _check_substitution(value: str, what: str) -> None:
    if not value:
        raise FfmpegCmdError(value, "is empty", kind=what)
    if "\0" in value:
        raise FfmpegCmdError(value, "contains a NUL character", kind=what)


def build_argv(
    template: str | None, input_url: str, output_path: str, ffmpeg_bin: str = "ffmpeg"
) -> list[str]:
    """The argv to exec for recording *input_url* into *output_path*.

    *template* is validated (the default recording template is used when it is
    None or blank); ``{input}`` and ``{output}`` are replaced as whole
    arguments -- the URL and path are never formatted into user text, so
    spaces or quotes in them cannot split or inject arguments -- and the
    leading ``ffmpeg`` becomes *ffmpeg_bin*.
    """
    tokens = validate_template(template if template and template.strip() else DEFAULT_RECORD_TEMPLATE)
    _check_substitution(input_url, "input URL")
    _check_substitution(output_path, "output path")
    # The output is the last positional argument: a path starting with "-"
    # would be parsed by ffmpeg as an option, and "name:..." as a protocol.
    if output_path.startswith("-") or _PROTOCOL_RE.match(output_path):
        raise FfmpegCmdError(
            output_path, "must be a plain file path (use an absolute path)", kind="output path"
        )
    substitutions = {INPUT_PLACEHOLDER: input_url, OUTPUT_PLACEHOLDER: output_path}
    argv = [substitutions.get(token, token) for token in tokens]
    argv[0] = ffmpeg_bin
    return argv
