"""Which record changes one heartbeat carries: the oldest first, up to a byte budget.

An agent with a long journal (thousands of records after a restart, or after a database restore)
once sent every change in its first beat, which passed the control plane's body limit (1 MiB, about
2,900 records) and was refused on every try: the agent never came online. Now a beat carries the
oldest changes up to `budget` bytes of JSON; the control plane acknowledges the newest change it
applied, and the next beat (sent at once, see `HeartbeatLoop.run`) goes on from there.

Changes that share one `updated_unix` travel together, however many: the acknowledgement is a time,
and the agent next sends what changed strictly after it, so splitting a tie would lose its rest."""

from __future__ import annotations

from collections.abc import Iterable

from shared.heartbeat import RecordReport

# Half the control plane's default body limit: room for the probes and the rest of the beat.
BEAT_RECORDS_BUDGET = 512 * 1024


def next_page(
    changes: Iterable[RecordReport], budget: int = BEAT_RECORDS_BUDGET
) -> tuple[list[RecordReport], bool]:
    """The changes one beat carries, oldest first, and whether any were left for the next beat."""
    ordered = sorted(changes, key=lambda r: r.updated_unix)
    page: list[RecordReport] = []
    size = 0
    for report in ordered:
        if page and size >= budget and report.updated_unix != page[-1].updated_unix:
            return page, True
        page.append(report)
        size += len(report.model_dump_json()) + 1
    return page, False
