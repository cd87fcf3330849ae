"""Why a record's video has a hole reaches the API with the hole, from any report after it: each gap
keeps its cause (`detail`), the record its last one as `error`; an agent of the previous release,
which sends no causes, still has its gaps shown."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import Session, create_engine

from controlplane.models import Record, Tag
from shared.heartbeat import HEARTBEAT_PATH, MAX_GAP_DETAIL_CHARS

BEGIN = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def recording_on_agent_a(database_url: str, tag_name: str) -> str:
    """A record of `tag_name` that is recording on agent `a`, as a start leaves it: its id."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with Session(engine) as session:
            tag = Tag(name=tag_name)
            session.add(tag)
            session.flush()
            record = Record(
                tag_id=tag.id,
                status="recording",
                agent_name="a",
                location="a:x.mp4",
                begin_utc=datetime.fromtimestamp(BEGIN, UTC),
            )
            session.add(record)
            session.commit()
            return record.id
    finally:
        engine.dispose()


def report(record_id: str, **fields: object) -> dict:
    return {
        "record_id": record_id,
        "source_id": 1,
        "status": "recording",
        "begin_unix": BEGIN,
        "location": "a:x.mp4",
        "updated_unix": BEGIN + 60,
        **fields,
    }


def beat_and_read(client: TestClient, tag_name: str, *reports: dict) -> dict:
    for one in reports:
        answer = client.post(
            HEARTBEAT_PATH, json={"name": "a", "address": "127.0.0.1:50051", "records": [one]}
        )
        assert answer.status_code == 200, answer.text
    (record,) = client.get("/api/v1/record", params={"tag_name": tag_name}).json()
    return record


def test_a_short_outage_reported_only_after_the_video_came_back_shows_why(
    client: TestClient, database_url: str
) -> None:
    """The outage fell between two heartbeats: the first report the control plane gets of it is the
    one after the camera came back. It says why, on the gap and as the record's error, and both stay
    when the record completes."""
    record_id = recording_on_agent_a(database_url, "t")
    gaps = [[BEGIN + 10, BEGIN + 11.5, "camera"], [BEGIN + 30, BEGIN + 31, "camera"]]
    causes = [[0, "Connection refused"], [1, "method DESCRIBE failed: 404 Not Found"]]
    after = report(record_id, gaps=gaps, gap_details=causes, error="method DESCRIBE failed: 404 Not Found")
    record = beat_and_read(client, "t", after)
    assert record["status"] == "recording"
    assert [(g["reason"], g["detail"]) for g in record["gaps"]] == [
        ("camera", "Connection refused"),
        ("camera", "method DESCRIBE failed: 404 Not Found"),
    ]
    assert record["error"] == "method DESCRIBE failed: 404 Not Found"
    done = report(
        record_id,
        status="completed",
        end_unix=BEGIN + 60,
        hash_md5="0" * 32,
        size_bytes=10,
        duration_s=57.5,
        gaps=gaps,
        gap_details=causes,
        error="method DESCRIBE failed: 404 Not Found",
        updated_unix=BEGIN + 61,
    )
    record = beat_and_read(client, "t", done)
    assert record["status"] == "completed" and record["error"] == "method DESCRIBE failed: 404 Not Found"
    assert [g["detail"] for g in record["gaps"]] == [
        "Connection refused",
        "method DESCRIBE failed: 404 Not Found",
    ]


def test_an_agent_of_the_previous_release_sends_gaps_without_causes(
    client: TestClient, database_url: str
) -> None:
    record_id = recording_on_agent_a(database_url, "old")
    during = report(record_id, error="Connection refused", updated_unix=BEGIN + 20)
    # It cleared the record's error when the video came back, and keeps no cause with the gap.
    after = report(record_id, gaps=[[BEGIN + 10, BEGIN + 11.5, "camera"]], updated_unix=BEGIN + 30)
    record = beat_and_read(client, "old", during, after)
    assert [(g["reason"], g["detail"]) for g in record["gaps"]] == [("camera", None)]
    assert record["error"] == "Connection refused"  # what the control plane heard stays


def test_a_huge_gap_cause_is_cut(client: TestClient, database_url: str) -> None:
    record_id = recording_on_agent_a(database_url, "big")
    huge = report(record_id, gaps=[[BEGIN + 10, BEGIN + 11.5, "camera"]], gap_details=[[0, "x" * 100_000]])
    record = beat_and_read(client, "big", huge)
    assert record["gaps"][0]["detail"] == "x" * MAX_GAP_DETAIL_CHARS
