"""The recording command for an RTSP camera, with the camera URL kept off the command line.

`shared.ffmpeg_cmd.build_argv` puts the input URL where `{input}` is, and a command line is
public (`ps`, `/proc/PID/cmdline`), while camera URLs carry passwords. So, as for snapshots
(`agent.ffmpeg.commands.rtsp_input`), ffmpeg gets `-f concat -i pipe:0` and reads a one-line
ffconcat script naming the URL from its stdin. The template's options that configure how the
camera is read move into the script (`option key value`), where they reach the RTSP demuxer; the
rest of the validated template is kept as it is.
"""

from __future__ import annotations

from agent.ffmpeg.commands import FfmpegCommand
from shared.ffmpeg_cmd import ALLOWED_OPTIONS, build_argv

# Demuxer (AVFormatContext / RTSP) options: they belong to the inner input the script opens.
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
_PROTOCOLS = "pipe,rtsp,rtsps,tcp,udp,rtp,tls"  # the script comes from pipe:, the camera over these


def record_command(template: str | None, rtsp_url: str, output: str, ffmpeg_bin: str) -> FfmpegCommand:
    """The argv (safe to show) and the stdin script (secret) that record `rtsp_url` into `output`."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rtsp_url):
        raise ValueError("control characters in the RTSP URL")  # a newline would add script lines
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
    quoted = "'" + rtsp_url.replace("'", "'\\''") + "'"
    script = "\n".join(["ffconcat version 1.0", f"file {quoted}", *options]) + "\n"
    outer += ["-f", "concat", "-safe", "0", "-protocol_whitelist", _PROTOCOLS]
    return FfmpegCommand([*outer, *argv[split:]], script.encode())
