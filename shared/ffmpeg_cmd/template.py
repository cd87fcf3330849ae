"""Templates: the constants, the error, the validation of a template against the allow-list, and
the argv built from a validated template (never a shell)."""

from __future__ import annotations

import re
import shlex

from shared.ffmpeg_cmd.allowlist import ALLOWED_OPTIONS, OptionSpec, Scope
from shared.redact import redact_text

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
