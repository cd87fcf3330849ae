"""An agent's storage backed up by copying its folder (docs/operations.md, "An agent's storage"): the
documented lines, run as written while the agent records, give a copy that, put back on a new disk
at the same path, serves every record completed before it with its MD5."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.test_docs_commands import commands_of, shell
from videorec_testing.cameras import RtspCamera
from videorec_testing.records import download, make_group, record_facts, record_tag, records, wait_bytes
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("recording")]


def test_an_agents_storage_copied_as_documented_serves_its_completed_records(
    camera: RtspCamera, tmp_path: Path
) -> None:
    backup_lines = commands_of(
        "operations.md", "mkdir -p /backups/agent-dock", "sqlite3", "rsync -a --exclude"
    )
    (restore_line,) = commands_of("operations.md", "rsync -a /backups/")
    assert len(backup_lines) == 3, backup_lines
    with start_stack(tmp_path) as stack:
        cp, agent = stack.cp, stack.agent
        places = {"/var/lib/videorec-agent": str(agent.storage), "/backups": str(tmp_path / "backups")}
        make_group(cp, "North gate", [{"model": "Source", "uri_rtsp": camera.url}])
        done = record_tag(cp, "done", "North gate")
        # The copy is taken while the agent runs and records another tag (its journal being written).
        with cp.client() as c:
            assert (
                c.post("/api/v1/record", json={"tag_name": "live", "group_name": "North gate"}).status_code
                == 200
            )
        wait_bytes(cp, "live")
        for line in backup_lines:
            copied = shell(line, tmp_path, places)
            assert copied.returncode == 0, (line, copied.stderr)
        with cp.client(timeout=120) as c:
            assert c.put("/api/v1/record", json={"tag_name": "live"}).status_code == 200
        live = records(cp, "live")
        assert live[0]["status"] == "completed", live
        copy = tmp_path / "backups" / "agent-dock"
        assert (copy / "journal.sqlite3").is_file() and not list(copy.glob("journal.sqlite3-*"))

        # The disk is lost: the agent stops, a new empty disk at the same path, the copy put back.
        agent.stop()
        shutil.move(agent.storage, tmp_path / "lost-disk")
        restored = shell(restore_line, tmp_path, places)
        assert restored.returncode == 0, restored.stderr
        stack.restart_agent(agent)

        assert [record_facts(r) for r in records(cp, "done")] == [record_facts(r) for r in done]
        for record in done:
            status, _, data = download(cp, record["id"])
            assert status == 200 and hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324
        # The record that was recording when the copy was taken: the copy's journal has it recording,
        # so the agent resumes it; the control plane, which has it completed, has it stopped at once
        # (before, it recorded on with nobody to stop it) and keeps what the lost disk's file was.
        assert [record_facts(r) for r in records(cp, "live")] == [record_facts(r) for r in live]

        def idle() -> bool:
            with cp.client() as c:
                (row,) = c.get("/api/v1/agent").json()
            return row["active_records"] == 0

        wait_until(idle, 30, what="the resumed record stopped")
        assert "resuming after an agent restart" in stack.by_name("agent-1").log()
        assert [record_facts(r) for r in records(cp, "live")] == [record_facts(r) for r in live]
