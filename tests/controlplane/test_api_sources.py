"""The Sources section of SPEC.md, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

RTSP = {"model": "Source", "description": "Gate camera", "uri_rtsp": "rtsp://10.0.0.5:554/stream1"}
PICTURE = {
    "model": "PictureSource",
    "description": "Yard still camera",
    "uri_http_picture": {
        "uri": "http://10.0.0.6/snap.jpg",
        "auth": "digest",
        "user": "admin",
        "password": "s3cr3t!",
    },
}


def create(client: TestClient, body: dict) -> dict:
    response = client.post("/api/v1/source", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_rtsp_source_has_the_spec_shape(client: TestClient) -> None:
    body = create(client, {**RTSP, "ffmpeg_cmd": "ffmpeg -rtsp_transport tcp -i {input} -c copy {output}"})
    assert set(body) >= {
        "id", "created_utc", "status", "model", "uri_rtsp", "uri_http_picture", "description", "ffmpeg_cmd",
    }  # fmt: skip
    assert body["status"] == "unknown"
    assert body["model"] == "Source"
    assert body["uri_rtsp"] == RTSP["uri_rtsp"]
    assert body["uri_http_picture"] is None
    assert body["ffmpeg_cmd"] == "ffmpeg -rtsp_transport tcp -i {input} -c copy {output}"
    created = datetime.fromisoformat(body["created_utc"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0


def test_picture_password_is_never_returned(client: TestClient) -> None:
    body = create(client, PICTURE)
    assert body["uri_http_picture"] == {
        "uri": "http://10.0.0.6/snap.jpg", "auth": "digest", "user": "admin", "password": "********",
    }  # fmt: skip
    for response in (client.get(f"/api/v1/source/{body['id']}"), client.get("/api/v1/source")):
        assert "s3cr3t!" not in response.text
        assert "********" in response.text


def test_password_inside_rtsp_uri_is_masked(client: TestClient) -> None:
    body = create(client, {**RTSP, "uri_rtsp": "rtsp://admin:hunter22@10.0.0.5/live"})
    assert body["uri_rtsp"] == "rtsp://admin:********@10.0.0.5/live"
    assert "hunter22" not in client.get("/api/v1/source").text


def test_put_keeps_left_out_fields_and_a_sent_back_mask(client: TestClient, settings) -> None:
    source = create(client, {**PICTURE, "uri_rtsp": "rtsp://u:pw123@10.0.0.6/s"})
    read = client.get(f"/api/v1/source/{source['id']}").json()
    # A client that PUTs back what it read (masked secrets included) must not wipe the secrets.
    put = client.put(
        f"/api/v1/source/{source['id']}",
        json={
            "description": "renamed",
            "uri_http_picture": read["uri_http_picture"],
            "uri_rtsp": read["uri_rtsp"],
        },
    )
    assert put.status_code == 200, put.text
    assert put.json()["description"] == "renamed"
    assert put.json()["model"] == "PictureSource"
    stored = _stored_source(settings, source["id"])
    assert stored["picture_password"] == "s3cr3t!"
    assert stored["uri_rtsp"] == "rtsp://u:pw123@10.0.0.6/s"


def _stored_source(settings, source_id: int) -> dict:
    import sqlalchemy

    url = settings.resolved_database_url().replace("+aiosqlite", "").replace("+psycopg", "+psycopg")
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sqlalchemy.text("select * from source where id = :id"), {"id": source_id}
        ).mappings()
        result = dict(row.one())
    engine.dispose()
    return result


def test_put_changes_a_field_and_get_reads_it_back(client: TestClient) -> None:
    source = create(client, RTSP)
    response = client.put(f"/api/v1/source/{source['id']}/", json={"uri_rtsp": "rtsps://cam.local/other"})
    assert response.status_code == 200
    assert client.get(f"/api/v1/source/{source['id']}/").json()["uri_rtsp"] == "rtsps://cam.local/other"


def test_put_that_leaves_a_source_without_its_uri_is_422_and_changes_nothing(client: TestClient) -> None:
    source = create(client, RTSP)
    response = client.put(f"/api/v1/source/{source['id']}", json={"uri_rtsp": None})
    assert response.status_code == 422
    assert client.get(f"/api/v1/source/{source['id']}").json()["uri_rtsp"] == RTSP["uri_rtsp"]


def test_list_and_delete(client: TestClient) -> None:
    first, second = create(client, RTSP), create(client, PICTURE)
    assert [s["id"] for s in client.get("/api/v1/source").json()] == [first["id"], second["id"]]
    deleted = client.delete(f"/api/v1/source/{first['id']}/")
    assert deleted.status_code == 200
    assert deleted.json()["id"] == first["id"]
    assert client.get(f"/api/v1/source/{first['id']}").status_code == 404
    assert [s["id"] for s in client.get("/api/v1/source").json()] == [second["id"]]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_unknown_source_is_404_with_a_message(client: TestClient, method: str) -> None:
    kwargs = {"json": {"description": "x"}} if method == "put" else {}
    response = getattr(client, method)("/api/v1/source/777/", **kwargs)
    assert response.status_code == 404
    assert response.json() == {"detail": "source 777 not found"}


def test_non_integer_id_is_422(client: TestClient) -> None:
    response = client.get("/api/v1/source/abc/")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "source_id"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"model": "Camera", "uri_rtsp": "rtsp://h/s"}, ["body", "model"]),
        ({"model": "Source"}, ["body"]),
        ({"model": "Source", "uri_rtsp": "http://h/s"}, ["body", "uri_rtsp"]),
        ({"model": "Source", "uri_rtsp": "rtsp:///nohost"}, ["body", "uri_rtsp"]),
        ({"model": "Source", "uri_rtsp": "rtsp://h:99999/s"}, ["body", "uri_rtsp"]),
        ({"model": "PictureSource"}, ["body"]),
        (
            {"model": "PictureSource", "uri_http_picture": {"uri": "ftp://h/a.jpg"}},
            ["body", "uri_http_picture", "uri"],
        ),
        (
            {"model": "PictureSource", "uri_http_picture": {"uri": "http://h/a.jpg", "auth": "ntlm"}},
            ["body", "uri_http_picture", "auth"],
        ),
        (
            {"model": "Source", "uri_rtsp": "rtsp://h/s", "ffmpeg_cmd": "ffmpeg -i {input} -f tee {output}"},
            ["body", "ffmpeg_cmd"],
        ),
        ({"model": "Source", "uri_rtsp": "rtsp://h/s", "surprise": 1}, ["body", "surprise"]),
        ({"model": "Source", "uri_rtsp": "rtsp://h/s", "description": 5}, ["body", "description"]),
    ],
)
def test_invalid_source_is_422_in_fastapi_shape_and_creates_nothing(
    client: TestClient, body: dict, loc: list
) -> None:
    response = client.post("/api/v1/source", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and {"loc", "msg", "type"} <= set(detail[0])
    assert detail[0]["loc"][: len(loc)] == loc
    assert client.get("/api/v1/source").json() == []


def test_hostile_ffmpeg_cmd_is_422_naming_the_argument(client: TestClient) -> None:
    response = client.post(
        "/api/v1/source", json={**RTSP, "ffmpeg_cmd": "ffmpeg -i {input} -dump_attachment:t out {output}"}
    )
    assert response.status_code == 422
    assert "-dump_attachment" in response.json()["detail"][0]["msg"]


def test_post_fields_as_query_parameters_are_accepted(client: TestClient) -> None:
    response = client.post("/api/v1/source", params={"model": "Source", "uri_rtsp": "rtsp://10.1.1.1/s"})
    assert response.status_code == 201, response.text
    assert response.json()["uri_rtsp"] == "rtsp://10.1.1.1/s"
    bad = client.post("/api/v1/source", params={"model": "Source", "uri_rtsp": "nope"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][:2] == ["query", "uri_rtsp"]


def test_invalid_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/source", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
