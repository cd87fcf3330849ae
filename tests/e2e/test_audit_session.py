"""A scripted session on the real stack (control plane, agent, ffmpeg, RTSP camera), keys made with the
real `videorec-controlplane user add`: a viewer watches and downloads, an operator records and
protects, an admin deletes. The audit trail holds exactly those entries, refusals included, and no
key or token shows up in the trail, the logs or any answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from videorec_testing.accounts import cli_user_add
from videorec_testing.cameras import RtspCamera
from videorec_testing.processes import ControlPlane
from videorec_testing.records import record_file
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("audit")]
BOOTSTRAP = "bootstrap-t0ken-a8c1"
TAG = "match-audit"


class Recorder:
    """httpx clients of each user that keep every answer, to look for keys in them afterwards."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.answers: list[str] = []

    def client(self, key: str) -> httpx.Client:
        def keep(response: httpx.Response) -> None:
            if response.headers.get("content-type", "").startswith("multipart/"):  # endless: its headers
                self.answers.append(f"{response.status_code} {response.headers}")
                return
            response.read()
            self.answers.append(f"{response.status_code} {response.headers} {response.text}")

        return httpx.Client(
            base_url=self.cp.url,
            timeout=120,
            headers={"Authorization": f"Bearer {key}"},
            event_hooks={"response": [keep]},
        )


def run_session(
    cp: ControlPlane, storage: Path, camera: RtspCamera, keys: dict[str, str], rec: Recorder
) -> tuple[str, str, int]:
    boot, viewer, operator, admin = (
        rec.client(keys[n]) for n in ("bootstrap", "viewer", "operator", "admin")
    )
    # Set up by the bootstrap admin (before the window the test reads).
    source = boot.post("/api/v1/source", json={"uri_rtsp": camera.url, "description": "gate"}).json()
    group = boot.post("/api/v1/group", json={"name": "north"}).json()
    assert boot.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True
    start = datetime.now(UTC)

    assert operator.post("/api/v1/record", json={"tag_name": TAG, "group_name": "north"}).status_code == 200
    # The viewer watches the camera live: the MJPEG stream's first frame, then leaves.
    with viewer.stream("GET", f"/api/v1/source/{source['id']}/video", params={"delay": 0.2}) as live:
        assert live.status_code == 200
        seen = b""
        for chunk in live.iter_bytes():
            seen += chunk
            if b"\xff\xd9" in seen:  # a whole JPEG
                break
    # And on the console's live wall: a ticket, then a tile over the WebSocket (its first status).
    ticket = viewer.post("/api/v1/live/ticket").json()["ticket"]
    with connect(
        cp.url.replace("http://", "ws://") + f"/api/v1/live/ws?ticket={ticket}", open_timeout=10
    ) as ws:
        ws.send(json.dumps({"open": 1, "source": source["id"]}))
        assert json.loads(ws.recv(timeout=30))["tile"] == 1
    (record,) = boot.get("/api/v1/record", params={"tag_name": TAG}).json()
    # Looked at on the agent's disk: a download to find out would be an entry of its own.
    on_disk = record_file(record, storage)
    wait_until(
        lambda: on_disk.exists() and on_disk.stat().st_size > 20_000, 60, what="the record to hold some video"
    )
    assert operator.put("/api/v1/record", json={"tag_name": TAG}).status_code == 200
    record = boot.get(f"/api/v1/record/{record['id']}").json()
    assert record["status"] == "completed", record

    # The viewer downloads it, and asks for a signed URL to it.
    assert viewer.get(f"/api/v1/record/{record['id']}/video").status_code == 200
    assert viewer.get(f"/api/v1/record/{record['id']}/video_url").status_code == 200
    # The operator protects the tag; unprotecting it is not theirs to do.
    assert operator.put("/api/v1/tag", params={"name": TAG}, json={"protected": True}).status_code == 200
    assert operator.put("/api/v1/tag", params={"name": TAG}, json={"protected": False}).status_code == 403
    # The viewer may not delete the file; the admin does.
    location = {"location": record["location"]}
    assert viewer.delete(f"/api/v1/record/{record['id']}/file", params=location).status_code == 403
    assert admin.delete(f"/api/v1/record/{record['id']}/file", params=location).status_code == 200
    # Someone with a key that is not one.
    assert rec.client("vru1.0000000000000000." + "x" * 43).get("/api/v1/source").status_code == 401
    # Reads leave no entry.
    assert viewer.get("/api/v1/record", params={"tag_name": TAG}).status_code == 200
    assert viewer.get(f"/api/v1/source/{source['id']}").status_code == 200
    return record["id"], start.isoformat(), source["id"]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_audit_trail_of_a_session_holds_exactly_what_each_role_did(
    db: str, camera: RtspCamera, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("pg_url") if db == "postgres" else None
    with start_stack(tmp_path, api_token=BOOTSTRAP, database_url=database_url) as stack:
        cp = stack.cp
        keys = {"bootstrap": BOOTSTRAP}
        for role in ("viewer", "operator", "admin"):
            keys[role] = cli_user_add(tmp_path / "cp-data", role, role, database_url)
        rec = Recorder(cp)
        record_id, since, source_id = run_session(cp, stack.agent.storage, camera, keys, rec)

        with rec.client(keys["admin"]) as admin:
            trail = admin.get("/api/v1/audit", params={"since": since, "limit": 1000}).json()
            metrics = admin.get("/metrics").text
            added = admin.get("/api/v1/audit", params={"action": "add_user"}).json()
            whole = admin.get("/api/v1/audit", params={"limit": 1000}).text
        got = [
            (e["actor"], e["role"], e["action"], e["target"], e["result"], e["status"], e["permission"])
            for e in reversed(trail)
        ]
        tag, rec_t = f"tag:{TAG}", f"record:{record_id}"
        assert got == [
            ("operator", "operator", "start_recording", tag, "ok", 200, "record"),
            ("viewer", "viewer", "source_video", f"source:{source_id}", "ok", 200, "live"),
            ("viewer", "viewer", "live_ticket", None, "ok", 200, "live"),
            ("viewer", "viewer", "live_wall_tile", f"source:{source_id}", "ok", None, "live"),
            ("operator", "operator", "stop_recording", tag, "ok", 200, "record"),
            ("viewer", "viewer", "record_video", rec_t, "ok", 200, "download"),
            ("viewer", "viewer", "record_video_url", rec_t, "ok", 200, "download"),
            ("operator", "operator", "protect_tag", tag, "ok", 200, "protect_tag"),
            ("operator", "operator", "unprotect_tag", tag, "refused", 403, "unprotect_tag"),
            ("viewer", "viewer", "delete_record_file", rec_t, "refused", 403, "delete_files"),
            ("admin", "admin", "delete_record_file", rec_t, "ok", 200, "delete_files"),
            (None, None, "GET /api/v1/source", None, "refused", 401, None),
        ]
        assert all(e["client"] == "127.0.0.1" for e in trail)
        assert [e["actor_kind"] for e in trail][-1] == "user" and trail[0]["actor_kind"] == "anonymous"
        assert sorted(e["target"] for e in added) == ["user:admin", "user:operator", "user:viewer"]
        assert all(e["actor_kind"] == "cli" for e in added)
        assert 'videorec_auth_refusals_total{permission="delete_files",status="403"} 1.0' in metrics
        assert 'videorec_auth_refusals_total{permission="none",status="401"} 1.0' in metrics

        # No key or token anywhere: the trail, the control plane's and the agent's logs, any answer.
        logs = cp.log() + stack.agent.log()
        for secret in [
            *keys.values(),
            *(k.rsplit(".", 1)[1] for k in keys.values() if k.startswith("vru1.")),
        ]:
            assert secret not in whole
            assert secret not in logs
            assert not [a for a in rec.answers if secret in a]
