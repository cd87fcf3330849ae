"""Which finished records the agent deletes to keep its disk usable, and why.

Rules, each taking the oldest records first (by the end of their recording): older than
`max_age_s`; more than `max_bytes` of finished records; free space below the reserve. A record
may be evicted only when it is finished (`completed`) and its tag is not protected; one already
copied elsewhere by sync goes before one that is not. Never a record that is recording.

Time and free space are given, not read, so the choice is a pure function (MediaMTX's
`recordcleaner` injects `timeNow` the same way).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from shared.enums import RecordStatus


class Rule(enum.StrEnum):
    MAX_AGE = "max age"
    MAX_BYTES = "max bytes"
    RESERVE = "free space below the reserve"


@dataclass(frozen=True)
class Policy:
    max_age_s: float | None = None
    max_bytes: int | None = None
    reserve_bytes: int = 0


@dataclass(frozen=True)
class Candidate:
    record_id: str
    tag_name: str
    status: RecordStatus
    end_unix: float
    size_bytes: int
    synced: bool = False


def choose(
    records: Iterable[Candidate], policy: Policy, now: float, free_bytes: int, protected: set[str]
) -> list[tuple[str, Rule]]:
    """The records to evict, in order, each with the rule that evicts it."""
    kept = [r for r in records if r.status is RecordStatus.COMPLETED]
    total = sum(r.size_bytes for r in kept)
    # Synced first, then oldest first: a copy elsewhere makes the local file the cheaper loss.
    order = sorted((r for r in kept if r.tag_name not in protected), key=lambda r: (not r.synced, r.end_unix))
    evicted: list[tuple[str, Rule]] = []
    for record in order:
        rule = None
        if policy.max_age_s is not None and now - record.end_unix > policy.max_age_s:
            rule = Rule.MAX_AGE
        elif policy.max_bytes is not None and total > policy.max_bytes:
            rule = Rule.MAX_BYTES
        elif free_bytes < policy.reserve_bytes:
            rule = Rule.RESERVE
        if rule is None:
            continue
        evicted.append((record.record_id, rule))
        total -= record.size_bytes
        free_bytes += record.size_bytes
    return evicted
