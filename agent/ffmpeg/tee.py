"""A recording ffmpeg with a second output: the record's file as before, plus a live copy of the
camera's video as fragmented MP4 on stdout, for the source's camera session (agent.live.session), so
that a camera recorded and watched is read once.

Both go through ffmpeg's `tee` muxer, because only it lets one output fail without ending the others:
two plain outputs end together when one fails. The live copy goes through a `fifo` that drops packets
when full (`drop_pkts_on_overflow`) and its failure is ignored (`onfail=ignore`): an agent that is
paused (its pipe unread) or dead (the pipe broken) costs the live copy, never the file.

The slaves' muxer options go inside the tee's brackets: ffmpeg's `-flush_packets` on the tee does
not reach them, and without it the file is written in 256 KiB chunks, late by a second or more (the
recorder dates a record's first frame by when its first fragments reach the file)."""

from __future__ import annotations

import re

# The live slave: as a camera session's own output (agent.ffmpeg.live_commands), video only (its
# audio, G.711 for most cameras, would make the MP4 muxer fail, and this one cannot be run again).
_LIVE_SLAVE = (
    "f=mp4:select=v:movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration={fragment_us}"
    ":write_prft=wallclock:flush_packets=1:onfail=ignore:use_fifo=1"
)
# The fifo's options for every slave that uses one (the live slave): never block the file's muxing.
TEE_FIFO_OPTIONS = ["-fifo_options", "drop_pkts_on_overflow=1"]
# What av_get_token (the tee's split of its slaves) leaves as it is: anything else is escaped.
_PLAIN = re.compile(r"[A-Za-z0-9/._+,=@%-]")
# The output options of a recording template that are the file muxer's, so the file slave's.
MUXER_OPTIONS = frozenset(
    {
        "-f",
        "-movflags",
        "-frag_duration",
        "-flush_packets",
        "-fragment_index",
        "-use_editlist",
        "-avoid_negative_ts",
    }
)


def tee_target(file_options: dict[str, str], path: str, fragment_us: int) -> str:
    """The tee's one argument: the file slave (first: its trailer is written first at the end) with
    its muxer options, then the live slave writing to stdout."""
    options = ":".join(f"{key}={value}" for key, value in file_options.items())
    live = _LIVE_SLAVE.format(fragment_us=fragment_us)
    return f"[{options}]{_escape(path)}|[{live}]pipe:1"


def written_paths(argv: list[str]) -> list[str]:
    """The files an ffmpeg command line writes: its last argument, or a tee's slave files."""
    if not argv:
        return []
    last = argv[-1]
    if len(argv) >= 3 and argv[-3:-1] == ["-f", "tee"]:
        return [name for name in (_slave_file(slave) for slave in _split_slaves(last)) if name]
    return [last]


def _escape(text: str) -> str:
    return "".join(c if _PLAIN.fullmatch(c) else "\\" + c for c in text)


def _split_slaves(arg: str) -> list[str]:
    """The tee's slaves, unescaped as ffmpeg's av_get_token does (backslash escapes, quotes)."""
    slaves, current, quoted, index = [], [], False, 0
    while index < len(arg):
        char = arg[index]
        if char == "\\" and index + 1 < len(arg):
            current.append(arg[index + 1])
            index += 1
        elif char == "'":
            quoted = not quoted
        elif char == "|" and not quoted:
            slaves.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    slaves.append("".join(current))
    return slaves


def _slave_file(slave: str) -> str | None:
    if not slave.startswith("["):
        return slave
    close = slave.find("]")
    return slave[close + 1 :] if close >= 0 else None
