"""Tag names as one path segment: the agent's folders, sync copies' folders and bucket keys.

One rule for every place a tag becomes a path, so a tag lands under the same name everywhere and
two tags never share one: a changed name carries a short hash of the original ("a/b" and "a_b"
differ)."""

from __future__ import annotations

import hashlib
import re

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_TAG_MAX = 80


def safe_tag(tag: str) -> str:
    """A directory name for `tag`: only [A-Za-z0-9._-], never `.`/`..`, never hidden."""
    cleaned = _TAG_UNSAFE.sub("_", tag)[:_TAG_MAX]
    cleaned = re.sub(r"\.{2,}", "_", cleaned)
    if not cleaned or cleaned.startswith("."):
        cleaned = "_" + cleaned
    if cleaned == tag:
        return tag
    return f"{cleaned}-{hashlib.sha256(tag.encode()).hexdigest()[:8]}"
