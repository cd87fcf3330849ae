"""What a copy is: the header a sender announces, the copy kept, and why one was not kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CopyHeader:
    """What the sender announces before the bytes (mirrors `WriteFileHeader`)."""

    record_id: str
    path: str  # directory relative to the sync root; "" for the sync root itself
    size: int
    hash_md5: str
    resume_offset: int = 0


@dataclass(frozen=True)
class CopyInfo:
    """One verified copy kept by this agent."""

    record_id: str
    location: str  # "<agent_name>:<path under the storage root>" (older copies: absolute)
    path: Path
    hash_md5: str
    size: int
    created_unix: float
