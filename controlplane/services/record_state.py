"""Applying what an agent says about a record to the stored record, forward only.

The agent is the truth for what it recorded; the control plane is the truth for what should be
recording. A report never moves a record backwards (a late "recording" cannot undo "stopping")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controlplane.models import Record
from shared.enums import GapReason, RecordStatus
from shared.heartbeat import RecordReport

_RANK = {
    RecordStatus.PENDING: 0,
    RecordStatus.RECORDING: 1,
    RecordStatus.STOPPING: 2,
    RecordStatus.COMPLETED: 3,
    RecordStatus.FAILED: 3,
    RecordStatus.INTERRUPTED: 3,
    RecordStatus.DELETED: 4,
}


def _utc(unix: float | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix else None


def apply_report(row: Record, report: RecordReport) -> bool:
    """Take the agent's facts; returns False when the report is older than what is stored."""
    current = row.status
    if _RANK[report.status] < _RANK[current]:
        return False
    if _RANK[current] >= 3:
        # An end is an end: a finished record's file, hash and times are fixed. Its file may only go
        # away later (deleted, retention), and that changes nothing else.
        if report.status != RecordStatus.DELETED or current == RecordStatus.DELETED:
            return False
        row.status = RecordStatus.DELETED
        row.error = report.error or row.error
        return True
    row.status = report.status
    row.begin_utc = _utc(report.begin_unix) or row.begin_utc
    row.end_utc = _utc(report.end_unix) or row.end_utc
    if report.location and row.status != RecordStatus.DELETED:
        row.location = report.location
    row.hash_md5 = report.hash_md5 or row.hash_md5
    row.size_bytes = report.size_bytes if report.size_bytes is not None else row.size_bytes
    row.duration_s = report.duration_s if report.duration_s is not None else row.duration_s
    row.error = report.error or row.error
    row.gaps = _failover_gaps(row) + [
        _gap(gap, detail) for gap, detail in zip(report.gaps, report.details(), strict=True)
    ]
    return True


def _gap(gap: tuple[float, float, GapReason] | tuple[float, float], detail: str) -> dict[str, Any]:
    stored = {
        "start_utc": datetime.fromtimestamp(gap[0], UTC).isoformat(),
        "end_utc": datetime.fromtimestamp(gap[1], UTC).isoformat(),
        # An agent two releases back reports [start, end]: its gaps were the camera's.
        "reason": (gap[2] if len(gap) > 2 else GapReason.CAMERA).value,
    }
    if detail:  # the previous release's agents keep no cause with their gaps
        stored["detail"] = detail
    return stored


def _failover_gaps(row: Record) -> list[dict[str, Any]]:
    """The gap before a continuation is the control plane's, not the agent's: kept across reports, and
    it ends where the continuation's video begins (the agent moves `begin` to its first frame)."""
    kept = []
    for gap in row.gaps or []:
        if gap.get("reason") != GapReason.FAILOVER.value:
            continue
        end = gap["end_utc"]
        if row.begin_utc is not None:
            end = max(datetime.fromisoformat(gap["start_utc"]), row.begin_utc).isoformat()
        kept.append({**gap, "end_utc": end})
    return kept
