"""An agent restarted with a long journal comes online and reports every record.

Its first heartbeat once carried every record change at once: past about 2,900 records the body
passed the control plane's 1 MiB limit, every beat was refused with 413, and the agent never came
online (found by bench/journal_recovery.py at 5,000). Beats now carry the oldest changes up to a byte
budget and the next beat follows at once (agent/control/record_pages.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from videorec_testing.records import fill_journal, records
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = pytest.mark.e2e

RECORDS = 6000  # over twice what one 1 MiB beat held
TAGS = 50  # fill_journal spreads the records over shift-0 … shift-49


def test_an_agent_with_thousands_of_records_in_its_journal_comes_online_and_reports_them_all(
    tmp_path: Path,
) -> None:
    fill_journal(tmp_path / "storage-agent-1", RECORDS)
    # start_stack returns once the agent is online: with one beat holding everything it never was.
    with start_stack(tmp_path, agents=["agent-1"]) as stack:

        def reported() -> int:
            return sum(len(records(stack.cp, f"shift-{i}")) for i in range(TAGS))

        wait_until(lambda: reported() == RECORDS, 120, interval=1.0, what=f"{RECORDS} records listed")
        some = records(stack.cp, "shift-7")
        assert {r["status"] for r in some} == {"completed"}
        assert all(r["hash_md5"] == "0" * 32 and r["size_bytes"] == 1_000_000 for r in some)
