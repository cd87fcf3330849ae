"""One heartbeat's share of record changes: oldest first, bounded, a tie never split."""

from __future__ import annotations

from agent.control.record_pages import next_page
from shared.enums import RecordStatus
from shared.heartbeat import RecordReport


def report(i: int, updated: float) -> RecordReport:
    return RecordReport(
        record_id=f"r{i:05d}",
        source_id=1,
        status=RecordStatus.COMPLETED,
        begin_unix=0.0,
        location=f"tag/1/r{i:05d}.mp4",
        updated_unix=updated,
    )


def test_a_page_is_the_oldest_changes_within_the_budget_and_the_rest_follow() -> None:
    changes = [report(i, 1000.0 + i) for i in reversed(range(100))]
    page, more = next_page(changes, budget=2000)
    assert more and 0 < len(page) < 100
    assert [r.updated_unix for r in page] == [1000.0 + i for i in range(len(page))]
    rest = [r for r in changes if r.updated_unix > page[-1].updated_unix]
    second, _ = next_page(rest, budget=2000)
    assert second[0].updated_unix == page[-1].updated_unix + 1


def test_changes_at_one_instant_travel_together_whatever_the_budget() -> None:
    changes = [report(i, 5.0) for i in range(50)] + [report(99, 6.0)]
    page, more = next_page(changes, budget=100)
    assert len(page) == 50 and more  # the acknowledgement is a time: half a tie would be lost
    assert next_page(changes[:50], budget=100) == (changes[:50], False)


def test_everything_fits_in_one_page_when_small() -> None:
    changes = [report(i, float(i)) for i in range(3)]
    assert next_page(changes) == (changes, False)
    assert next_page([]) == ([], False)
