"""HTTP byte ranges (RFC 9110 §14), one range per request: the control plane's video endpoint and the
agent's media route (agent.ops.file_response) answer them alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"no byte of a {size}-byte file is in the range")
        self.size = size  # a 416 says it: Content-Range: bytes */SIZE


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """None: serve the whole file (no header, or one we do not understand, as RFC 9110 allows).

    Several ranges (`a-b,c-d`) are answered with the first one only; browsers never ask for more."""
    if not header:
        return None
    match = _RANGE.match(header.split(",", 1)[0])
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, end)
