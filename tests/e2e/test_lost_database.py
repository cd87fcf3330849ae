"""Nothing recorded is lost with the database: a control plane restored from a backup taken before a
tag was recorded gets that tag's records back from its agent's journal (tag, source, status, times,
MD5, size, gaps, file), serves them with their MD5, and ends a record that was still recording when
the backup was taken. On SQLite (`backup` / `restore`) and on PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.test_backup import cli
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.db import postgres_database
from videorec_testing.records import download, make_group, record_facts, record_tag, records, wait_bytes
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("recording")]
PASSWORD = "s3cret-cam-pw"


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    with start_rtsp_camera(user="admin", password=PASSWORD) as cam:
        yield cam


def record_with_a_drop(stack: Stack, camera: RtspCamera, tag: str, group: str) -> list[dict]:
    """Record `tag` with the camera lost for a moment in the middle: each record holds a gap."""
    cp = stack.cp
    with cp.client(timeout=120) as c:
        assert c.post("/api/v1/record", json={"tag_name": tag, "group_name": group}).status_code == 200
        wait_bytes(cp, tag)
        seen = len(stack.agent.log())
        camera.stop()
        wait_until(lambda: "connecting -> retry_wait" in stack.agent.log()[seen:], 30, what="the camera lost")
        camera.restart()

        def gapped() -> list[dict] | None:
            rows = records(cp, tag)
            return rows if all(r["gaps"] for r in rows) else None

        wait_until(gapped, 60, what="a gap in every record")
        assert c.put("/api/v1/record", json={"tag_name": tag}).status_code == 200
    done = records(cp, tag)
    assert done and all(r["status"] == "completed" and r["hash_md5"] and r["gaps"] for r in done), done
    return done


def pg_tool(advice: subprocess.CompletedProcess[str]) -> list[str]:
    assert advice.returncode == 2
    return shlex.split(advice.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_records_made_after_the_backup_come_back_from_the_agents_journal(
    database: str, camera: RtspCamera, tmp_path: Path
) -> None:
    with (
        postgres_database() if database == "postgresql" else _no_database() as url,
        postgres_database() if database == "postgresql" else _no_database() as restored_url,
        start_stack(tmp_path, database_url=url) as stack,
    ):
        cp = stack.cp
        cam = camera.url_with_credentials
        make_group(cp, "North gate", [{"model": "Source", "uri_rtsp": cam, "description": "gate"}])
        before = record_tag(cp, "before", "North gate")
        # A record running while the backup is taken: the restored database has it recording.
        with cp.client() as c:
            assert (
                c.post("/api/v1/record", json={"tag_name": "long", "group_name": "North gate"}).status_code
                == 200
            )
        wait_bytes(cp, "long")

        backup = _backup(stack, tmp_path)

        with cp.client(timeout=120) as c:
            assert c.put("/api/v1/record", json={"tag_name": "long"}).status_code == 200
        long = records(cp, "long")
        # After the backup: a new source (a camera the backup never saw) and a new tag on both.
        make_group(cp, "Yard", [{"model": "Source", "uri_rtsp": cam, "description": "yard"}])
        with cp.client() as c:
            assert c.post("/api/v1/group/2/source/1/").json() is True
        after = record_with_a_drop(stack, camera, "after", "Yard")
        assert {r["source"]["id"] for r in after} == {1, 2}

        stack.stop_cp()
        _restore(stack, tmp_path, backup, restored_url)
        cp = stack.start_cp()

        # Listed again once the agent's journal is read (within seconds of it coming online).
        got = wait_until(
            lambda: len(rows := records(cp, "after")) == 2 and rows, 60, what="records from the journal"
        )
        for record in got:
            (before_loss,) = [r for r in after if r["id"] == record["id"]]
            # All but `error`: the lost database kept the camera's "Connection refused" from the drop
            # on the finished record (a report never clears it), the journal has none (the agent
            # cleared it when the camera came back); the gap is the drop, in both.
            assert record_facts(record) | {"error": None} == record_facts(before_loss) | {"error": None}
        assert all(r["recovered_utc"] for r in got)

        # The record running at the backup has its end, as the agent finished it.
        def long_ended() -> list[dict] | None:
            rows = records(cp, "long")
            return rows if rows and rows[0]["status"] == "completed" else None

        assert [record_facts(r) for r in wait_until(long_ended, 60, what="the running record's end")] == [
            record_facts(long[0])
        ]
        assert [record_facts(r) for r in records(cp, "before")] == [record_facts(r) for r in before]
        assert all(r["recovered_utc"] is None for r in records(cp, "before"))
        # Every record is served with its MD5.
        for record in [*got, *records(cp, "long"), *records(cp, "before")]:
            status, _, data = download(cp, record["id"])
            assert status == 200 and hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324
        with cp.client() as c:
            # The source the backup never saw is back under its id, without its password (the agent
            # never sends one back): the admin gives it again.
            yard = c.get("/api/v1/source/2").json()
            assert yard["uri_rtsp"] == cam.replace(f":{PASSWORD}", "")
            assert "journal of agent agent-1" in yard["description"]
            # A new source takes the next id, on PostgreSQL too (its sequence was moved past it).
            made = c.post("/api/v1/source", json={"model": "Source", "uri_rtsp": camera.url})
            assert made.status_code == 201 and made.json()["id"] == 3
            assert PASSWORD not in c.get("/api/v1/source").text
        assert PASSWORD not in (tmp_path / f"controlplane-{cp.url.rsplit(':', 1)[1]}.log").read_text()


def _backup(stack: Stack, tmp_path: Path) -> Path:
    if stack.database_url is None:
        done = cli("backup", tmp_path / "backup", tmp_path / "cp-data")
        assert done.returncode == 0, done.stderr
        return tmp_path / "backup"
    dump = pg_tool(cli("backup", tmp_path / "x", tmp_path / "x", VIDEOREC_DATABASE_URL=stack.database_url))
    subprocess.run(dump, cwd=tmp_path, check=True, timeout=120)
    return tmp_path / "videorec.dump"


def _restore(stack: Stack, tmp_path: Path, backup: Path, restored_url: str | None) -> None:
    """Into a new data folder or a new database, the lost one moved out of the way."""
    if stack.database_url is None:
        (tmp_path / "cp-data").rename(tmp_path / "cp-data.lost")
        done = cli("restore", backup, tmp_path / "cp-data")
        assert done.returncode == 0, done.stderr
        return
    assert restored_url is not None
    restore = pg_tool(cli("restore", tmp_path / "x", tmp_path / "x", VIDEOREC_DATABASE_URL=restored_url))
    target = restored_url.rsplit("/", 1)[1]
    subprocess.run(
        [target if a == "NEW_DATABASE" else a for a in restore], cwd=tmp_path, check=True, timeout=120
    )
    stack.database_url = restored_url


class _no_database:  # noqa: N801 - used like postgres_database()
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
