"""What an end-to-end test reads of a tag's records: the rows, the bytes served, how much video they
hold, and whether they play. Everything through the REST API, as a user would."""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from agent.cameras.spec import CameraSpec
from agent.recording.journal import Journal, RecordRow, journal_key
from shared.enums import RecordStatus
from videorec_testing.media import ffprobe_json
from videorec_testing.processes import AGENT_TOKEN, ControlPlane
from videorec_testing.wait import wait_until


def record_file(record: dict, storage: Path, field: str = "location") -> Path:
    """The file a record's `location` (or `sync_location`) names on the agent whose storage root is
    `storage`: locations are relative to the root (an absolute one, as older agents reported, stays
    itself)."""
    return storage / record[field].split(":", 1)[1]


def make_group(cp: ControlPlane, name: str, sources: list[dict]) -> list[int]:
    ids = []
    with cp.client() as c:
        group = c.post("/api/v1/group", json={"name": name}).json()
        for body in sources:
            source = c.post("/api/v1/source", json=body).json()
            assert c.post(f"/api/v1/group/{group['id']}/source/{source['id']}").json() is True
            ids.append(source["id"])
    return ids


def records(cp: ControlPlane, tag: str) -> list[dict]:
    with cp.client() as c:
        return c.get("/api/v1/record", params={"tag_name": tag}).json()


def download(cp: ControlPlane, record_id: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    with cp.client(timeout=60) as c:
        response = c.get(f"/api/v1/record/{record_id}/video/", headers=headers or {})
        return response.status_code, dict(response.headers), response.content


def wait_bytes(cp: ControlPlane, tag: str) -> list[dict]:
    """Wait until every record of the tag has video on disk (ffmpeg probes ~2 s before writing)."""

    def ready() -> list[dict] | None:
        rows = records(cp, tag)
        ok = all(
            download(cp, r["id"], {"Range": "bytes=0-99"})[0] == 206
            for r in rows
            if r["status"] == "recording"
        )
        return rows if ok else None

    return wait_until(ready, 60, interval=0.2, what=f"video of {tag}")


def record_tag(cp: ControlPlane, tag: str, group: str) -> list[dict]:
    """Record the group under the tag until it has bytes, stop it: its records, completed with MD5."""
    with cp.client(timeout=120) as c:
        assert c.post("/api/v1/record", json={"tag_name": tag, "group_name": group}).status_code == 200
        wait_bytes(cp, tag)
        assert c.put("/api/v1/record", json={"tag_name": tag}).status_code == 200
    done = records(cp, tag)
    assert done and all(r["status"] == "completed" and r["hash_md5"] for r in done), done
    return done


def video_seconds(cp: ControlPlane, record_id: str) -> float:
    """How much video the record's file holds now, by ffprobe of the bytes served (also while it grows)."""
    status, _, data = download(cp, record_id)
    assert status == 200, status
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        return float(ffprobe_json(Path(f.name))["format"].get("duration", 0))


def wait_video_s(cp: ControlPlane, record_id: str, seconds: float, timeout: float = 60) -> float:
    """Until the record's file holds `seconds` of video: what a fixed sleep before a stop stood for."""
    return wait_until(
        lambda: (got := video_seconds(cp, record_id)) >= seconds and got,
        timeout,
        interval=0.3,
        what=f"{seconds} s of video in record {record_id}",
    )


def assert_plays(data: bytes, tmp_path: Path, expected_s: float, tolerance: float = 1.0) -> float:
    path = tmp_path / f"{hashlib.md5(data).hexdigest()}.mp4"  # noqa: S324 - a file name
    path.write_bytes(data)
    duration = float(ffprobe_json(path)["format"]["duration"])
    assert abs(duration - expected_s) <= tolerance, (duration, expected_s)
    return duration


def span_minus_gaps(record: dict) -> float:
    span = (
        datetime.fromisoformat(record["end_utc"]) - datetime.fromisoformat(record["begin_utc"])
    ).total_seconds()
    return span - sum(
        (datetime.fromisoformat(g["end_utc"]) - datetime.fromisoformat(g["start_utc"])).total_seconds()
        for g in record["gaps"]
    )


def tampered(signature: str) -> str:
    """The signature with its first character changed (to another one: a plain replacement would
    leave one signature in 64 as it was)."""
    return ("B" if signature[0] == "A" else "A") + signature[1:]


RECORD_FACTS = ("id", "status", "begin_utc", "end_utc", "hash_md5", "location", "agent", "size_bytes",
                "duration_s", "gaps", "tag_name", "error")  # fmt: skip


def record_facts(record: dict) -> dict:
    """What a record says about its recording (not what the control plane adds: its source's status,
    when it was recovered): equal before and after a restore or an upgrade."""
    source = record["source"]["id"] if record["source"] else None
    return {k: record[k] for k in RECORD_FACTS} | {"source_id": source}


def fill_journal(storage: Path, n: int) -> None:
    """An agent's journal (in its storage folder) holding `n` completed records: 50 tags, 10 sources."""
    journal = Journal(storage, journal_key(AGENT_TOKEN))
    now = time.time() - 86_400
    try:
        for i in range(n):
            rid, tag, source = str(uuid.uuid4()), f"shift-{i % 50}", 1 + i % 10
            journal.save(
                RecordRow(
                    record_id=rid,
                    tag_name=tag,
                    spec=CameraSpec(source_id=source, rtsp_url=f"rtsp://admin:pw@10.0.0.{source}/s"),
                    ffmpeg_cmd=None,
                    status=RecordStatus.COMPLETED,
                    begin_unix=now + i,
                    end_unix=now + i + 60,
                    final_path=str(storage / tag / str(source) / f"{rid}.mp4"),
                    hash_md5="0" * 32,
                    size_bytes=1_000_000,
                    duration_s=60.0,
                )
            )
    finally:
        journal.close()
