"""Which records retention evicts, in which order, by which rule (time and free space injected)."""

from __future__ import annotations

from agent.recording.retention import Candidate, Policy, Rule, choose
from shared.enums import RecordStatus

MIB = 1 << 20
NOW = 1_000_000.0


def rec(record_id: str, age_s: float, size_mib: int = 10, tag: str = "t", **kw: object) -> Candidate:
    status = kw.pop("status", RecordStatus.COMPLETED)
    return Candidate(record_id, tag, status, NOW - age_s, size_mib * MIB, **kw)  # type: ignore[arg-type]


def test_age_evicts_only_what_is_older_than_the_limit() -> None:
    records = [rec("new", 10), rec("old", 100), rec("older", 200)]
    assert choose(records, Policy(max_age_s=50), NOW, 10**12, set()) == [
        ("older", Rule.MAX_AGE),
        ("old", Rule.MAX_AGE),
    ]


def test_bytes_evict_oldest_first_until_under_the_limit() -> None:
    records = [rec("a", 300), rec("b", 200), rec("c", 100)]
    assert choose(records, Policy(max_bytes=15 * MIB), NOW, 10**12, set()) == [
        ("a", Rule.MAX_BYTES),
        ("b", Rule.MAX_BYTES),
    ]


def test_reserve_evicts_until_the_reserve_is_free_again() -> None:
    records = [rec("a", 300), rec("b", 200), rec("c", 100)]
    chosen = choose(records, Policy(reserve_bytes=100 * MIB), NOW, 85 * MIB, set())
    assert chosen == [("a", Rule.RESERVE), ("b", Rule.RESERVE)]


def test_synced_records_go_before_unsynced_ones() -> None:
    records = [rec("old-local", 300), rec("new-synced", 100, synced=True)]
    chosen = choose(records, Policy(reserve_bytes=100 * MIB), NOW, 95 * MIB, set())
    assert chosen == [("new-synced", Rule.RESERVE)]


def test_never_a_protected_tag_nor_a_record_not_finished() -> None:
    records = [
        rec("kept", 500, tag="evidence"),
        rec("live", 400, status=RecordStatus.RECORDING),
        rec("stopping", 400, status=RecordStatus.STOPPING),
        rec("failed", 400, status=RecordStatus.FAILED),
        rec("gone", 300),
    ]
    chosen = choose(records, Policy(max_age_s=1, reserve_bytes=10**15), NOW, 0, {"evidence"})
    assert chosen == [("gone", Rule.MAX_AGE)]
