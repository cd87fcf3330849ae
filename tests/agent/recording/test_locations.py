"""A record's location names its file relative to the agent's storage root, which is the agent's
business: API users see `agent:tag/1/id.mp4`, never the root's absolute path. The absolute form that
older agents reported (and records finished then keep) still names the same file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.errors import FileAccessError
from tests.agent.recording.support import AGENT, open_manager
from tests.agent.recording.test_served import completed

pytestmark = pytest.mark.anyio


async def test_a_location_is_relative_to_the_storage_root_and_the_older_form_still_works(tmp_path: Path):
    root = tmp_path / "root"
    row = completed(root, 1, b"video" * 1000, time.time())
    final = Path(row.final_path)
    async with open_manager(root) as manager:
        (info,) = manager.list()
        assert info.location == f"{AGENT}:tag-1/1/{row.record_id}.mp4"
        assert str(root) not in info.location
        older = f"{AGENT}:{final}"
        for location in (info.location, older):
            assert manager.resolve_file(row.record_id, location).path == final.resolve()
        for refused in (
            f"{AGENT}:../root/tag-1/1/{row.record_id}.mp4",
            f"{AGENT}:/{info.location[len(AGENT) + 1 :]}",
        ):
            with pytest.raises(FileAccessError):
                manager.resolve_file(row.record_id, refused)
        await manager.delete_file(row.record_id, info.location)
    assert not final.exists()
