"""Stored camera secrets never leave for a new endpoint, nor in any answer or error (issue 14)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from controlplane.settings import Settings
from videorec_testing.stack import start_stack

CANARY = "Canary-pw-7f3e9"
MASK = "********"


class RecordingCamera:
    """An HTTP 'camera' on 127.0.0.1 that answers 401 to everything and keeps what it was sent."""

    def __init__(self) -> None:
        seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                seen.append(f"{self.path}\n{self.headers}")
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/snap.jpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received_canary(self) -> bool:
        basic = base64.b64encode(f"admin:{CANARY}".encode()).decode()
        return any(CANARY in text or basic in text for text in self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cameras() -> Iterator[tuple[RecordingCamera, RecordingCamera]]:
    old, new = RecordingCamera(), RecordingCamera()
    try:
        yield old, new
    finally:
        old.close()
        new.close()


@pytest.mark.e2e
def test_a_sent_back_mask_never_takes_the_stored_password_to_a_new_host(
    tmp_path: Path, cameras: tuple[RecordingCamera, RecordingCamera]
) -> None:
    old, new = cameras
    with start_stack(tmp_path, cp_env={"VIDEOREC_CAMERA_ALLOW_LOCAL": "true"}) as stack:
        cp, agent = stack.cp, stack.agent
        with cp.client() as c:
            picture = {"uri": old.url, "auth": "basic", "user": "admin", "password": CANARY}
            created = c.post("/api/v1/source", json={"model": "PictureSource", "uri_http_picture": picture})
            assert created.status_code == 201, created.text
            source_id = created.json()["id"]
            moved = {**picture, "uri": new.url, "password": MASK}
            put = c.put(f"/api/v1/source/{source_id}", json={"uri_http_picture": moved})
            assert put.status_code == 422, put.text
            assert "password" in put.text and CANARY not in put.text
            assert c.get(f"/api/v1/source/{source_id}/picture").status_code == 502
            # The same endpoint with the mask keeps the password: the old camera still gets it.
            same = c.put(
                f"/api/v1/source/{source_id}", json={"uri_http_picture": {**picture, "password": MASK}}
            )
            assert same.status_code == 200, same.text
            assert c.get(f"/api/v1/source/{source_id}/picture").status_code == 502
            # A camera URL naming another service: the error says nothing of what answered there.
            inner = {"uri": f"{cp.url}/openapi.json"}
            created = c.post("/api/v1/source", json={"model": "PictureSource", "uri_http_picture": inner})
            foreign = c.get(f"/api/v1/source/{created.json()['id']}/picture")
            assert foreign.status_code == 502, foreign.text
            assert "json" not in foreign.text.lower() and "content-type" not in foreign.text.lower()
            assert not any(ch.isdigit() for ch in foreign.json()["detail"].split(":", 1)[1])
    assert old.received_canary()
    assert not new.received_canary()
    assert CANARY not in cp.log() and CANARY not in agent.log()


def _stored(settings: Settings, source_id: int) -> dict:
    url = settings.resolved_database_url().replace("+aiosqlite", "")
    with sqlalchemy.create_engine(url).connect() as conn:
        row = conn.execute(sqlalchemy.text("SELECT * FROM source WHERE id = :i"), {"i": source_id})
        return dict(row.mappings().one())


def _create(client: TestClient, body: dict) -> dict:
    response = client.post("/api/v1/source", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "new_uri",
    [
        "rtsp://camuser:********@10.9.9.9/cam",  # another host
        "rtsp://camuser:********@10.0.0.5:8554/cam",  # another port
        "rtsps://camuser:********@10.0.0.5/cam",  # another scheme
        "rtsp://other:********@10.0.0.5/cam",  # another user
    ],
)
def test_rtsp_mask_for_another_endpoint_is_422_and_keeps_the_row(
    client: TestClient, settings: Settings, new_uri: str
) -> None:
    source = _create(client, {"uri_rtsp": f"rtsp://camuser:{CANARY}@10.0.0.5/cam"})
    put = client.put(f"/api/v1/source/{source['id']}", json={"uri_rtsp": new_uri})
    assert put.status_code == 422, put.text
    assert put.json()["detail"][0]["loc"] == ["body", "uri_rtsp"]
    assert CANARY not in put.text
    assert _stored(settings, source["id"])["uri_rtsp"] == f"rtsp://camuser:{CANARY}@10.0.0.5/cam"


def test_rtsp_mask_for_the_same_endpoint_keeps_the_password(client: TestClient, settings: Settings) -> None:
    source = _create(client, {"uri_rtsp": f"rtsp://camuser:{CANARY}@10.0.0.5:554/cam"})
    put = client.put(
        f"/api/v1/source/{source['id']}", json={"uri_rtsp": "rtsp://camuser:********@10.0.0.5/other"}
    )
    assert put.status_code == 200, put.text
    assert _stored(settings, source["id"])["uri_rtsp"] == f"rtsp://camuser:{CANARY}@10.0.0.5/other"


def test_a_mask_with_nothing_stored_is_422(client: TestClient) -> None:
    assert client.post("/api/v1/source", json={"uri_rtsp": "rtsp://u:********@10.0.0.5/c"}).status_code == 422
    picture = {"uri": "http://10.0.0.6/s.jpg", "user": "admin", "password": MASK}
    body = {"model": "PictureSource", "uri_http_picture": picture}
    assert client.post("/api/v1/source", json=body).status_code == 422


def test_picture_mask_with_another_user_is_422(client: TestClient, settings: Settings) -> None:
    picture = {"uri": "http://10.0.0.6/s.jpg", "user": "admin", "password": CANARY}
    source = _create(client, {"model": "PictureSource", "uri_http_picture": picture})
    put = client.put(
        f"/api/v1/source/{source['id']}",
        json={"uri_http_picture": {**picture, "user": "root", "password": MASK}},
    )
    assert put.status_code == 422, put.text
    assert put.json()["detail"][0]["loc"] == ["body", "uri_http_picture", "password"]
    assert _stored(settings, source["id"])["picture_user"] == "admin"


@pytest.mark.parametrize("key", ["password", "pwd", "pass", "passwd", "token", "auth", "PassWord"])
def test_credential_query_parameters_are_masked_and_kept_like_userinfo(
    client: TestClient, settings: Settings, key: str
) -> None:
    rtsp = f"rtsp://10.0.0.5/cam?channel=1&{key}={CANARY}"
    picture = {"uri": f"http://10.0.0.6/snap.cgi?user=admin&{key}={CANARY}", "auth": "basic"}
    source = _create(client, {"model": "PictureSource", "uri_rtsp": rtsp, "uri_http_picture": picture})
    for text in (
        str(source),
        client.get("/api/v1/source").text,
        client.get(f"/api/v1/source/{source['id']}").text,
    ):
        assert CANARY not in text
    assert source["uri_rtsp"] == f"rtsp://10.0.0.5/cam?channel=1&{key}={MASK}"
    read = client.get(f"/api/v1/source/{source['id']}").json()
    put = client.put(
        f"/api/v1/source/{source['id']}",
        json={"uri_rtsp": read["uri_rtsp"], "uri_http_picture": read["uri_http_picture"]},
    )
    assert put.status_code == 200, put.text
    stored = _stored(settings, source["id"])
    assert (stored["uri_rtsp"], stored["picture_uri"]) == (rtsp, picture["uri"])
    moved = read["uri_http_picture"]["uri"].replace("10.0.0.6", "10.0.0.7")
    put = client.put(f"/api/v1/source/{source['id']}", json={"uri_http_picture": {"uri": moved}})
    assert put.status_code == 422 and CANARY not in put.text


def test_a_refused_put_does_not_echo_the_stored_password(client: TestClient) -> None:
    source = _create(client, {"uri_rtsp": f"rtsp://camuser:{CANARY}@10.0.0.5/cam"})
    put = client.put(f"/api/v1/source/{source['id']}", json={"model": "PictureSource"})
    assert put.status_code == 422, put.text
    assert CANARY not in put.text


def test_a_refused_input_is_echoed_redacted_and_truncated(client: TestClient) -> None:
    body = {
        "uri_rtsp": f"ftp://u:{CANARY}@10.0.0.5/x",
        "description": "d" * 500_000,
        "uri_http_picture": {"uri": "http://10.0.0.6/s.jpg", "password": CANARY, "bogus": 1},
    }
    response = client.post("/api/v1/source", json=body)
    assert response.status_code == 422
    assert CANARY not in response.text
    assert len(response.content) < 10_000
    by_loc = {tuple(e["loc"]): e for e in response.json()["detail"]}
    assert ("body", "description") in by_loc and ("body", "uri_rtsp") in by_loc
