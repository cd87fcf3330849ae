"""Bucket names, object keys and `s3://` locations, checked before anything reaches a bucket."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re

METADATA_MD5 = "md5"  # stored as x-amz-meta-md5: lets a retried copy be recognised without reading it
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def validate_bucket_name(bucket: str) -> str:
    """Apply S3's bucket naming rules (general purpose buckets); returns the name or raises ValueError."""
    if not _BUCKET_RE.match(bucket):
        raise ValueError(
            f"bad bucket name {bucket!r}: 3-63 lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        raise ValueError(f"bad bucket name {bucket!r}: adjacent dots or dot-hyphen")
    if _IPV4_RE.match(bucket):
        raise ValueError(f"bad bucket name {bucket!r}: looks like an IP address")
    if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        raise ValueError(f"bad bucket name {bucket!r}: reserved prefix or suffix")
    return bucket


def normalize_key(*parts: str) -> str:
    """Join key parts with single slashes; refuses `..` so a key cannot climb out of its prefix.

    Empty and `.` segments are dropped (S3 keeps them literally, which would make `a//b` and `a/b`
    two different objects for what is meant to be one path).
    """
    segments: list[str] = []
    for part in parts:
        if "\\" in part or any(ord(c) < 0x20 or c == "\x7f" for c in part):
            raise ValueError(f"bad key part {part!r}: backslash or control character")
        for segment in part.split("/"):
            if segment == "..":
                raise ValueError(f"bad key part {part!r}: '..' segments are not allowed")
            if segment and segment != ".":
                segments.append(segment)
    return "/".join(segments)


def parse_s3_location(location: str) -> tuple[str, str]:
    """Split `s3://BUCKET/PREFIX` into (bucket, normalised prefix without outer slashes)."""
    scheme, sep, rest = location.partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError(f"not an s3:// location: {location!r}")
    bucket, _, prefix = rest.partition("/")
    if any(c in rest for c in "?#%"):
        # Keys may hold these, but in a location string they are ambiguous (query, fragment, escape).
        raise ValueError(f"bad s3 location {location!r}: '?', '#' and '%' are not allowed")
    return validate_bucket_name(bucket), normalize_key(prefix)


def check_md5(md5: str) -> str:
    md5 = md5.strip().lower()
    if not _MD5_RE.match(md5):
        raise ValueError(f"not an MD5 hex digest: {md5!r}")
    return md5


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def b64_md5(data: bytes | bytearray) -> str:
    """Content-MD5 of a request: the bucket refuses bytes damaged on the way."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324
