"""Upgrades from the previous release (docs/upgrade.md): its control plane and agent, run from that
release's own code (git history), record; this release's `migrate` upgrades their database, its control
plane serves what they recorded (on PostgreSQL beside a replica of the previous release that goes on
serving the upgraded schema: a rolling upgrade) and records on the old agent (whose heartbeat lacks
this release's fields, and which has no ListJournal); the agent upgraded in place keeps serving its
records. And the reverse for one release: this release's agent records for the previous release's
control plane."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from videorec_testing.cameras import RtspCamera
from videorec_testing.db import postgres_database
from videorec_testing.processes import ControlPlane, start_agent, start_controlplane, wait_agent_online
from videorec_testing.records import download, make_group, record_facts, record_tag, records
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("recording")]
ROOT = Path(__file__).resolve().parents[2]
# The commit of the previous release: move it forward when a release is cut (docs/upgrade.md).
PREVIOUS_RELEASE = "625646d"


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment that runs the previous release's code with this virtualenv: its tree first on
    the path, and not the current directory (python -m would put this checkout before it)."""
    tree = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(["git", "archive", PREVIOUS_RELEASE], cwd=ROOT, capture_output=True, check=False)
    assert archive.returncode == 0, f"the previous release {PREVIOUS_RELEASE} is not in this clone's history"
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return {"PYTHONSAFEPATH": "1", "PYTHONPATH": str(tree)}


def assert_served(cp: ControlPlane, rows: list[dict]) -> None:
    for record in rows:
        status, _, data = download(cp, record["id"])
        assert status == 200 and hashlib.md5(data).hexdigest() == record["hash_md5"]  # noqa: S324


def facts_of(rows: list[dict]) -> list[dict]:
    return [record_facts(r) for r in rows]


def facts(cp: ControlPlane, tag: str) -> list[dict]:
    return facts_of(records(cp, tag))


def migrate(database_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")}
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "migrate"],
        env={**env, "VIDEOREC_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_previous_release_upgrades_database_first_then_agents(
    database: str, previous: dict[str, str], camera: RtspCamera, tmp_path: Path
) -> None:
    with ExitStack() as stops:
        url = stops.enter_context(postgres_database()) if database == "postgresql" else None
        old_cp = start_controlplane(tmp_path, url, **previous)
        stops.callback(old_cp.stop)
        agent = start_agent(tmp_path, old_cp, name="gate", **previous)
        stops.callback(agent.stop)
        wait_agent_online(old_cp, "gate")
        make_group(old_cp, "North gate", [{"model": "Source", "uri_rtsp": camera.url}])
        old = record_tag(old_cp, "old", "North gate")
        old_cp.stop()

        # The database first. PostgreSQL: `migrate` once, then the new replicas (which do not upgrade
        # on their own there); SQLite: the new control plane upgrades it as it starts.
        port = old_cp.url.rsplit(":", 1)[1]
        if url is not None:
            migrate(url)
        started = datetime.now(UTC)
        cp = start_controlplane(
            tmp_path, url, port=int(port), VIDEOREC_MIGRATE_ON_START="false" if url else "true"
        )
        stops.callback(cp.stop)
        assert facts(cp, "old") == facts_of(old)
        # The previous release's agent beats to it (no `assignment`: it gets every source each beat);
        # until it does, the agent shows online from its last beat to the old one, which soon goes stale.
        wait_agent_online(cp, "gate", since=started)
        assert_served(cp, old)
        mixed = record_tag(cp, "mixed", "North gate")
        assert_served(cp, mixed)
        if url is not None:
            # A rolling upgrade: a replica of the previous release still serving beside the new one,
            # on the upgraded schema, records and serves, and each lists what the other recorded.
            old_replica = start_controlplane(tmp_path, url, VIDEOREC_MIGRATE_ON_START="false", **previous)
            stops.callback(old_replica.stop)
            assert facts(old_replica, "mixed") == facts_of(mixed)
            rolling = record_tag(old_replica, "rolling", "North gate")
            assert_served(old_replica, [*old, *mixed, *rolling])
            assert facts(cp, "rolling") == facts_of(rolling)
            assert_served(cp, rolling)
            old_replica.stop()
            assert "Traceback" not in old_replica.log()
        # It has no ListJournal: the journal sync says so and goes on (the agent's records are all known).
        wait_until(lambda: "journal of agent gate not read" in cp.log(), 30, what="the journal sync's note")
        assert "UNIMPLEMENTED" in cp.log()

        # Then the agent, in place: same name, same storage.
        agent.stop()
        agent = start_agent(tmp_path, cp, name="gate")
        stops.callback(agent.stop)
        wait_agent_online(cp, "gate", address=agent.address())
        new = record_tag(cp, "new", "North gate")
        assert_served(cp, [*old, *mixed, *new])
        assert facts(cp, "old") == facts_of(old) and facts(cp, "mixed") == facts_of(mixed)
    assert "Traceback" not in cp.log()


def test_this_releases_agent_records_for_the_previous_control_plane(
    previous: dict[str, str], camera: RtspCamera, tmp_path: Path
) -> None:
    with ExitStack() as stops:
        old_cp = start_controlplane(tmp_path, **previous)
        stops.callback(old_cp.stop)
        agent = start_agent(tmp_path, old_cp, name="gate")
        stops.callback(agent.stop)
        wait_agent_online(old_cp, "gate")
        make_group(old_cp, "North gate", [{"model": "Source", "uri_rtsp": camera.url}])
        assert_served(old_cp, record_tag(old_cp, "ahead", "North gate"))
    assert "Traceback" not in agent.log()
