"""Validation of per-source ffmpeg command templates, and the argv built from them.

This package owns the only path from a user-supplied ``ffmpeg_cmd`` template to
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

from shared.ffmpeg_cmd.allowlist import ALLOWED_FILTERS, ALLOWED_OPTIONS
from shared.ffmpeg_cmd.template import (
    DEFAULT_RECORD_TEMPLATE,
    INPUT_PLACEHOLDER,
    MAX_TEMPLATE_LENGTH,
    OUTPUT_PLACEHOLDER,
    FfmpegCmdError,
    build_argv,
    validate_template,
)

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
