"""Each agent has its own identity: a token bound to its name, revocable by an admin; reports cannot
rewrite a finished record; an agent's address is host:port and nothing else."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, create_engine

from controlplane.agent_identity import token_for
from controlplane.app import create_app
from controlplane.models import Record, Tag
from shared.heartbeat import HEARTBEAT_PATH
from tests.conftest import make_settings
from videorec_testing.placement import wait_placed

KEY = "test-agents-key-0123456789"


@pytest.fixture
def keyed(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, database_url, agents_key=KEY, agent_token="old-shared-secret")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def beat(client: TestClient, name: str, token: str, **extra: object):
    body = {"name": name, "address": "127.0.0.1:50051", **extra}
    return client.post(HEARTBEAT_PATH, json=body, headers={"Authorization": f"Bearer {token}"})


def test_an_agent_acts_only_as_the_name_its_token_was_issued_to(keyed: TestClient):
    assert beat(keyed, "site-a", token_for(KEY, "site-a")).status_code == 200
    stolen = beat(keyed, "evil", token_for(KEY, "site-a"))
    assert stolen.status_code == 401 and "issued to agent site-a" in stolen.text
    assert beat(keyed, "site-a", token_for(KEY, "site-b")).status_code == 401
    assert beat(keyed, "evil", token_for("another-key", "evil")).status_code == 401
    # With per-agent tokens the old shared secret is no longer a way in.
    assert beat(keyed, "evil", "old-shared-secret").status_code == 401
    assert [a["name"] for a in keyed.get("/api/v1/agent").json()] == ["site-a"]


@pytest.mark.parametrize(
    "address", ["unix:/tmp/agent.sock", "unix-abstract:x", "127.0.0.1", "/etc/passwd:1", "h:99999", "a@b:1"]
)
def test_an_agent_address_is_host_and_port_only(keyed: TestClient, address: str):
    answer = beat(keyed, "site-a", token_for(KEY, "site-a"), address=address)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "address"]
    assert keyed.get("/api/v1/agent").json() == []  # nothing stored


def test_revoked_agent_is_refused_and_its_sources_move(keyed: TestClient):
    token_a, token_b = token_for(KEY, "site-a"), token_for(KEY, "site-b")
    assert beat(keyed, "site-a", token_a).status_code == 200
    source = keyed.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1"}).json()
    wait_placed(keyed, source["id"], lambda: beat(keyed, "site-a", token_a))
    placed = beat(keyed, "site-a", token_a).json()["sources"]
    assert [s["id"] for s in placed] == [source["id"]]

    revoked = keyed.delete("/api/v1/agent/site-a")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert beat(keyed, "site-a", token_a).status_code == 401
    # Another agent takes the camera over (placed by the loop, told at its next heartbeat).
    assert wait_placed(keyed, source["id"], lambda: beat(keyed, "site-b", token_b)) == "site-b"
    assert [s["id"] for s in beat(keyed, "site-b", token_b).json()["sources"]] == [source["id"]]
    # A name that never connected is revoked too (test_security_revocation.py).
    assert keyed.delete("/api/v1/agent/nobody").json()["revoked"] is True


def test_a_report_cannot_rewrite_a_finished_record(keyed: TestClient, database_url: str):
    """A completed record's file, hash and times are fixed, even for the agent that made it."""
    token = token_for(KEY, "site-a")
    assert beat(keyed, "site-a", token).status_code == 200
    record_id = _completed_record(database_url)
    forged = {
        "record_id": record_id,
        "source_id": 1,
        "status": "completed",
        "begin_unix": 1.0,
        "location": "elsewhere/evil.mp4",
        "hash_md5": "0" * 32,
        "updated_unix": 2.0,
    }
    assert beat(keyed, "site-a", token, records=[forged]).status_code == 200
    record = keyed.get(f"/api/v1/record/{record_id}").json()
    assert record["location"] == "t/1/r.mp4" and record["hash_md5"] == "a" * 32
    assert record["begin_utc"].startswith("2026-01-01")


def _completed_record(database_url: str) -> str:
    """A finished record of site-a, as a stop leaves it."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with Session(engine) as session:
            tag = Tag(name="t")
            session.add(tag)
            session.flush()
            row = Record(
                tag_id=tag.id,
                status="completed",
                agent_name="site-a",
                location="t/1/r.mp4",
                hash_md5="a" * 32,
                begin_utc=datetime(2026, 1, 1, tzinfo=UTC),
            )
            session.add(row)
            session.commit()
            return row.id
    finally:
        engine.dispose()


def test_enrol_agent_command_prints_the_token_the_control_plane_accepts(tmp_path: Path):
    env = {"VIDEOREC_AGENTS_KEY": KEY, "PATH": "/usr/bin:/bin", "VIDEOREC_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "enrol-agent", "site-a"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == token_for(KEY, "site-a")
    refused = subprocess.run(
        [sys.executable, "-m", "controlplane", "enrol-agent", "../x"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2


def test_an_agent_joining_is_in_the_audit_trail_by_its_name_once(keyed: TestClient):
    """Who (user or agent): a new agent's first heartbeat is an entry of that agent; its later beats,
    which only say it is alive, are not; its token is never written."""
    token = token_for(KEY, "site-a")
    for _ in range(3):
        assert beat(keyed, "site-a", token, site="north").status_code == 200
    assert beat(keyed, "evil", token).status_code == 401
    trail = keyed.get("/api/v1/audit")
    got = [
        (e["actor_kind"], e["actor"], e["action"], e["target"], e["result"]) for e in reversed(trail.json())
    ]
    assert got == [
        ("agent", "site-a", "agent_joined", "agent:site-a", "ok"),
        ("agent", "site-a", "heartbeat", None, "refused"),  # the token names site-a, the beat evil
    ]
    assert trail.json()[1]["detail"] == "site north, address 127.0.0.1:50051"
    assert token not in trail.text
