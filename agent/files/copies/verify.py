"""Checking bytes against the header that announced them: a header that can name a copy, and a
copy whose size and MD5 are the announced ones. The caller removes what fails."""

from __future__ import annotations

import re

from agent.errors import CopyMismatchError, FileAccessError
from agent.files.copies.model import CopyHeader

_MD5 = re.compile(r"[0-9a-f]{32}")


def checked_md5(header: CopyHeader) -> str:
    """The header's MD5 in lower case; FileAccessError for a header that cannot name a copy."""
    expected = header.hash_md5.lower()
    if not _MD5.fullmatch(expected):
        raise FileAccessError(f"hash_md5 {header.hash_md5[:40]!r} is not 32 hex digits")
    if header.size < 0:
        raise FileAccessError(f"size {header.size} is negative")
    return expected


def check_complete(header: CopyHeader, written: int, actual: str, how: str) -> None:
    """CopyMismatchError unless `written` bytes hashing to `actual` are what `header` announced;
    `how` ("received", "pulled") says how they came in the error."""
    expected = header.hash_md5.lower()
    if written != header.size or actual != expected:
        raise CopyMismatchError(
            f"record {header.record_id}: {how} {written} bytes with MD5 {actual}, "
            f"expected {header.size} bytes with MD5 {expected}"
        )
