"""What an agent reports is bounded inside the body cap: a huge `version` is a 422, a huge probe
detail or record error is cut, so no agent can make every `GET /api/v1/agent` (the console polls it)
or every source list carry megabytes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shared.heartbeat import HEARTBEAT_PATH, MAX_DETAIL_CHARS, HeartbeatIn
from videorec_testing.placement import wait_placed

BIG = "x" * 900_000


def beat(client: TestClient, **extra: object):
    return client.post(HEARTBEAT_PATH, json={"name": "a", "address": "127.0.0.1:50051", **extra})


def test_a_huge_version_is_422_and_nothing_is_stored(client: TestClient):
    answer = beat(client, version=BIG)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "version"]
    assert len(answer.content) < 2000  # the refused value is not echoed back at length
    assert client.get("/api/v1/agent").json() == []


def test_a_huge_probe_detail_is_cut_before_it_is_stored(client: TestClient):
    assert beat(client).status_code == 200
    source = client.post("/api/v1/source", json={"uri_rtsp": "rtsp://cam.example/1"}).json()
    wait_placed(client, source["id"], lambda: beat(client))
    assert [s["id"] for s in beat(client).json()["sources"]] == [source["id"]]
    probe = {"source_id": source["id"], "online": False, "detail": BIG, "probed_unix": 1.0}
    assert beat(client, probes=[probe]).status_code == 200
    stored = client.get(f"/api/v1/source/{source['id']}").json()
    assert stored["status"] == "offline" and stored["status_detail"] == "x" * MAX_DETAIL_CHARS
    assert len(client.get("/api/v1/source").content) < 5000
    assert len(client.get("/api/v1/agent").content) < 2000


REPORT = {"record_id": "r", "source_id": 1, "status": "failed", "begin_unix": 1.0, "updated_unix": 1.0}


def test_a_huge_record_error_is_cut():
    report = {**REPORT, "location": "l", "error": BIG}
    beat = HeartbeatIn.model_validate({"name": "a", "address": "h:1", "records": [report]})
    assert beat.records[0].error == "x" * MAX_DETAIL_CHARS


@pytest.mark.parametrize("field", ["location", "record_id", "hash_md5"])
def test_a_huge_record_field_is_422(client: TestClient, field: str):
    report = {**REPORT, "location": "l", field: BIG}
    answer = beat(client, records=[report])
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "records", 0, field]
