"""Bytes straight from the agent: the control plane redirects to a URL it signed, or relays the agent's
answer to it, the agent serves the record's file with sendfile and refuses every other URL. Real
control plane, agent, ffmpeg, camera.

Every test runs in both serving modes: "proxy" (the agent has no public URL: downloads through the
control plane stream the agent's HTTP answer) and "public" (the agent has VIDEOREC_AGENT_PUBLIC_URL,
here `localhost` rather than the 127.0.0.1 it reports, so a URL on it is told apart: downloads are
redirected there by default)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from shared.heartbeat import HEARTBEAT_PATH
from shared.media_urls import MediaGrant, media_key
from videorec_testing.cameras import RtspCamera
from videorec_testing.media import ffprobe_json
from videorec_testing.net import free_port
from videorec_testing.processes import AGENT_TOKEN, AgentProc, ControlPlane
from videorec_testing.records import tampered
from videorec_testing.stack import start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("media_urls")]


@pytest.fixture(scope="module", params=["proxy", "public"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[tuple[ControlPlane, AgentProc]]:
    env = {}
    if mode == "public":
        port = free_port()
        env = {
            "VIDEOREC_AGENT_HTTP_PORT": str(port),
            "VIDEOREC_AGENT_PUBLIC_URL": f"http://localhost:{port}/",
        }
    with start_stack(tmp_path_factory.mktemp(f"media-urls-{mode}"), agent_env=env) as running:
        yield running.cp, running.agent


def agent_host(mode: str) -> str:
    """Where a client is sent: the public URL's host, else the HTTP address the agent reports."""
    return "localhost" if mode == "public" else "127.0.0.1"


@pytest.fixture(scope="module")
def recorded(stack, camera: RtspCamera) -> dict[str, list[dict]]:
    """Two records of one tag: their rows while recording (with a growing file's URL checked then),
    and once completed."""
    cp, _agent = stack
    with cp.client() as c:
        group = c.post("/api/v1/group", json={"name": "media"}).json()
        for name in ("cam A", "cam B"):
            source = c.post(
                "/api/v1/source", json={"model": "Source", "uri_rtsp": camera.url, "description": name}
            ).json()
            c.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
        assert (
            c.post("/api/v1/record", json={"tag_name": "media-1", "group_name": "media"}).status_code == 200
        )
        rows = c.get("/api/v1/record", params={"tag_name": "media-1"}).json()

        def has_bytes() -> bool:
            answers = [
                c.get(
                    f"/api/v1/record/{r['id']}/video/", headers={"Range": "bytes=0-99"}, follow_redirects=True
                )
                for r in rows
            ]
            return all(a.status_code == 206 for a in answers)

        wait_until(has_bytes, 60, interval=0.2, what="first bytes of both records")
        growing = {r["id"]: signed_url(cp, r["id"]) for r in rows}
        growing_answers = {rid: httpx.get(url, timeout=30) for rid, url in growing.items()}
        wait_until(lambda: seconds_recorded(c, "media-1") >= 2.5, 60, interval=0.2, what="2.5 s of video")
        assert c.put("/api/v1/record", json={"tag_name": "media-1"}).status_code == 200
        done = c.get("/api/v1/record", params={"tag_name": "media-1"}).json()
    return {"recording": rows, "completed": done, "growing_answers": list(growing_answers.values())}


def seconds_recorded(c: httpx.Client, tag: str) -> float:
    """Seconds since the later of the tag's records had its first fragment (so ranges have room), once
    they have video: before that, begin_utc is when the record started."""
    begins = [r["begin_utc"] for r in c.get("/api/v1/record", params={"tag_name": tag}).json()]
    if not begins or None in begins:
        return 0.0
    return time.time() - max(datetime.fromisoformat(b).timestamp() for b in begins)


def signed_url(cp: ControlPlane, record_id: str) -> str:
    with cp.client() as c:
        answer = c.get(f"/api/v1/record/{record_id}/video/", params={"redirect": "1"})
    assert answer.status_code == 307, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.headers["location"]


def resigned(url: str, record_id: str, location: str, expires: int, agent_name: str) -> str:
    """The same agent URL with a grant signed as the control plane would (it knows the agent's token)."""
    parts = urlsplit(url)
    grant = MediaGrant(record_id, location, expires)
    query = urlencode(grant.query(media_key(AGENT_TOKEN, agent_name)))
    return f"{parts.scheme}://{parts.netloc}/media/{record_id}?{query}"


def test_a_growing_file_is_served_uncacheable_and_without_etag(recorded) -> None:
    for answer in recorded["growing_answers"]:
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert "etag" not in answer.headers
        assert answer.headers["content-type"] == "video/mp4"
        assert len(answer.content) > 0


def test_the_redirect_is_followed_and_the_bytes_are_the_records(stack, recorded, mode: str) -> None:
    cp, _agent = stack
    for record in recorded["completed"]:
        assert record["status"] == "completed" and record["hash_md5"]
        with cp.client(timeout=60) as c:
            answer = c.get(
                f"/api/v1/record/{record['id']}/video/", params={"redirect": "1"}, follow_redirects=True
            )
        assert answer.status_code == 200
        assert answer.url.host == agent_host(mode) and answer.url.path == f"/media/{record['id']}"
        assert hashlib.md5(answer.content).hexdigest() == record["hash_md5"]  # noqa: S324
        assert answer.headers["etag"] == f'"{record["hash_md5"]}"'
        assert "last-modified" not in answer.headers
        assert int(answer.headers["content-length"]) == record["size_bytes"] == len(answer.content)
        # ?redirect=0 has the bytes relayed by the control plane, whatever the mode.
        with cp.client(timeout=60) as c:
            proxied = c.get(f"/api/v1/record/{record['id']}/video/", params={"redirect": "0"})
        assert proxied.status_code == 200 and proxied.content == answer.content
        assert proxied.headers["etag"] == answer.headers["etag"]


def test_without_asking_public_agents_redirect_and_others_proxy(stack, recorded, mode: str) -> None:
    cp, _agent = stack
    record = recorded["completed"][0]
    with cp.client(timeout=60) as c:
        answer = c.get(f"/api/v1/record/{record['id']}/video/")
    if mode == "public":
        assert answer.status_code == 307 and answer.headers["cache-control"] == "no-store"
        assert urlsplit(answer.headers["location"]).netloc.startswith("localhost:")
    else:
        assert answer.status_code == 200
        assert hashlib.md5(answer.content).hexdigest() == record["hash_md5"]  # noqa: S324


def test_ranges_md5_validators_and_playback_through_the_api(stack, recorded, tmp_path) -> None:
    """What a player sees at /api/v1/record/{id}/video in this mode (redirects followed)."""
    cp, _agent = stack
    record = recorded["completed"][0]
    size, etag = record["size_bytes"], f'"{record["hash_md5"]}"'
    with cp.client(timeout=60) as c:

        def get(headers: dict[str, str] | None = None) -> httpx.Response:
            return c.get(f"/api/v1/record/{record['id']}/video/", headers=headers, follow_redirects=True)

        whole = get()
        assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
        assert hashlib.md5(whole.content).hexdigest() == record["hash_md5"]  # noqa: S324
        assert int(whole.headers["content-length"]) == size and whole.headers["etag"] == etag
        assert whole.headers["content-type"] == "video/mp4"
        data = whole.content
        part = get({"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == data[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{size}"
        assert part.headers["content-length"] == "1000"
        assert get({"Range": f"bytes={size // 2}-"}).content == data[size // 2 :]
        assert get({"Range": "bytes=-500"}).content == data[-500:]
        beyond = get({"Range": f"bytes={size + 10}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        assert get({"Range": "bytes=0-9", "If-Range": etag}).content == data[:10]
        stale = get({"Range": "bytes=0-9", "If-Range": '"another"'})
        assert stale.status_code == 200 and stale.content == data
        assert get({"If-None-Match": etag}).status_code == 304
        assert get({"If-Match": '"another"'}).status_code == 412
    path = tmp_path / "whole.mp4"
    path.write_bytes(data)
    probed = ffprobe_json(path)
    assert probed["streams"][0]["codec_name"] == "h264"
    assert abs(float(probed["format"]["duration"]) - record["duration_s"]) <= 1.0


def test_a_heartbeat_with_a_bad_public_url_is_refused(stack) -> None:
    cp, _agent = stack
    beat = {"name": "bad-public-url", "address": "127.0.0.1:1", "http_address": "127.0.0.1:2"}
    for bad in ("ftp://x.example/", "http://user:pw@x.example/", "http://x.example/?a=1", "localhost:8080"):
        answer = httpx.post(
            cp.url + HEARTBEAT_PATH,
            json={**beat, "public_url": bad},
            headers={"Authorization": f"Bearer {AGENT_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["body", "public_url"]
    with cp.client() as c:
        assert "bad-public-url" not in {a["name"] for a in c.get("/api/v1/agent").json()}


def test_ranges_and_validators_from_the_agent(stack, recorded) -> None:
    cp, _agent = stack
    record = recorded["completed"][0]
    url = signed_url(cp, record["id"])
    whole = httpx.get(url, timeout=60).content
    size = len(whole)
    etag = f'"{record["hash_md5"]}"'
    part = httpx.get(url, headers={"Range": "bytes=100-1099"}, timeout=30)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert part.content == whole[100:1100]
    tail = httpx.get(url, headers={"Range": "bytes=-500"}, timeout=30)
    assert tail.status_code == 206 and tail.content == whole[-500:]
    beyond = httpx.get(url, headers={"Range": f"bytes={size}-{size + 10}"}, timeout=30)
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.content == b""
    # If-Range: the MD5 ETag validates the range; anything else gets the whole file.
    valid = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=30)
    assert valid.status_code == 206 and valid.content == whole[:10]
    stale = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another"'}, timeout=30)
    assert stale.status_code == 200 and stale.content == whole
    assert httpx.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    assert httpx.get(url, headers={"If-Match": '"another"'}, timeout=30).status_code == 412


def test_video_url_answers_a_signed_url_and_its_expiry(stack, recorded) -> None:
    cp, _agent = stack
    record = recorded["completed"][0]
    with cp.client() as c:
        answer = c.get(f"/api/v1/record/{record['id']}/video_url/")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"url", "expires_utc"}
    query = parse_qs(urlsplit(body["url"]).query)
    assert int(query["expires"][0]) - time.time() <= 61
    got = httpx.get(body["url"], timeout=60)
    assert got.status_code == 200
    assert hashlib.md5(got.content).hexdigest() == record["hash_md5"]  # noqa: S324
    with cp.client() as c:
        assert c.get("/api/v1/record/no-such-record/video_url").status_code == 404


def test_the_agent_refuses_every_url_it_did_not_get_signed(stack, recorded) -> None:
    cp, agent = stack
    first, second = recorded["completed"]
    url = signed_url(cp, first["id"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    base = url.split("?", 1)[0]
    later = int(time.time()) + 60
    journal = f"{agent.name}:{agent.storage / 'journal.sqlite3'}"
    refused = {
        "unsigned": (f"{base}?location={first['location']}", 403),
        "tampered signature": (
            base + "?" + urlencode({**query, "signature": tampered(query["signature"])}),
            403,
        ),
        "later expiry, same signature": (
            base + "?" + urlencode({**query, "expires": str(later + 3600)}),
            403,
        ),
        "another location, same signature": (
            base + "?" + urlencode({**query, "location": second["location"]}),
            403,
        ),
        "expired": (resigned(url, first["id"], first["location"], int(time.time()) - 1, agent.name), 403),
        "signed by another agent's key": (
            resigned(url, first["id"], first["location"], later, "agent-2"),
            403,
        ),
        "another record's file": (resigned(url, first["id"], second["location"], later, agent.name), 404),
        "the journal": (resigned(url, first["id"], journal, later, agent.name), 404),
        "a way out of the record": (
            resigned(url, first["id"], f"{first['location']}/../../journal.sqlite3", later, agent.name),
            404,
        ),
        "no such record": (resigned(url, "no-such-record", first["location"], later, agent.name), 404),
    }
    whole = httpx.get(url, timeout=60).content
    for what, (bad, status) in refused.items():
        answer = httpx.get(bad, timeout=30)
        assert answer.status_code == status, what
        assert len(answer.content) < 200 < len(whole), what  # an error text, not the file
        assert "video/mp4" not in answer.headers.get("content-type", ""), what


def test_a_deleted_records_kept_url_is_refused(stack, camera: RtspCamera) -> None:
    """A player's kept URL stops working when its record is deleted, though the agent kept the
    record's checked file for the ranges before."""
    cp, _agent = stack
    with cp.client(timeout=60) as c:
        group = c.post("/api/v1/group", json={"name": "media-deleted"}).json()
        source = c.post(
            "/api/v1/source", json={"model": "Source", "uri_rtsp": camera.url, "description": "cam C"}
        ).json()
        c.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
        started = c.post("/api/v1/record", json={"tag_name": "media-2", "group_name": "media-deleted"})
        assert started.status_code == 200
        # Video first: begin_utc is set from the start, and the camera may refuse the first connection
        # (the test camera answered 5XX once, just after the previous test's records left it): the
        # record retries, but a stop before any video makes it `failed`.
        (row,) = c.get("/api/v1/record", params={"tag_name": "media-2"}).json()
        wait_until(
            lambda: (
                c.get(
                    f"/api/v1/record/{row['id']}/video/",
                    headers={"Range": "bytes=0-99"},
                    follow_redirects=True,
                ).status_code
                == 206
            ),
            60,
            interval=0.2,
            what="the first bytes of media-2",
        )
        wait_until(lambda: seconds_recorded(c, "media-2") >= 1.0, 60, interval=0.2, what="1 s of video")
        assert c.put("/api/v1/record", json={"tag_name": "media-2"}).status_code == 200
        (record,) = c.get("/api/v1/record", params={"tag_name": "media-2"}).json()
    assert record["status"] == "completed"
    url = signed_url(cp, record["id"])
    for _ in range(2):
        assert httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=30).status_code == 206
    with cp.client() as c:
        deleted = c.delete(f"/api/v1/record/{record['id']}/file", params={"location": record["location"]})
    assert deleted.status_code == 200, deleted.text
    gone = httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert gone.status_code == 404 and "video/mp4" not in gone.headers.get("content-type", "")
