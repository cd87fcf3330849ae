"""Sync to `agent://`: the destination agent pulls the record from the source agent's HTTP port, at a
URL the control plane signed, verifies the MD5 as it writes, and resumes a pull cut short from the
bytes it already holds. Real control plane, two real agents, ffmpeg, RTSP camera.

The "bytes counted" are the destination agent's own counters
(`videorec_agent_sync_pulled_bytes_total`: fetched over the network; `..._resumed_bytes_total`:
kept from an interrupted pull), read from its /metrics."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import grpc
import httpx
import pytest

from shared.media_urls import MediaGrant, media_key
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc
from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import AGENT_TOKEN, AgentProc, ControlPlane
from videorec_testing.records import record_file, tampered, wait_video_s
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("agent_pull_sync")]


class Site:
    """A control plane, a source agent `src` and a destination agent `dest` (restartable)."""

    def __init__(self, stack: Stack, camera: RtspCamera) -> None:
        self.stack, self.camera = stack, camera
        self.cp: ControlPlane = stack.cp
        self.src: AgentProc = stack.by_name("src")

    @property
    def dest(self) -> AgentProc:
        return self.stack.by_name("dest")

    def record(self, tag: str, seconds: float) -> dict:
        with self.cp.client(timeout=120) as c:
            group = c.post("/api/v1/group", json={"name": f"g-{tag}"}).json()
            source = c.post(
                "/api/v1/source", json={"model": "Source", "uri_rtsp": self.camera.url, "agent": "src"}
            ).json()
            c.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
            assert (
                c.post("/api/v1/record", json={"tag_name": tag, "group_name": group["name"]}).status_code
                == 200
            )
            (row,) = c.get("/api/v1/record", params={"tag_name": tag}).json()
            wait_until(
                lambda: (
                    c.get(f"/api/v1/record/{row['id']}/video", headers={"Range": "bytes=0-9"}).status_code
                    == 206
                ),
                60,
                what="video on disk",
            )
            wait_video_s(self.cp, row["id"], seconds)  # how much video the record holds
            assert c.put("/api/v1/record", json={"tag_name": tag}).status_code == 200
            (done,) = c.get("/api/v1/record", params={"tag_name": tag}).json()
        assert done["status"] == "completed" and done["hash_md5"], done
        return dict(done)

    def sync(self, tag: str, location: str, **extra: object) -> str:
        with self.cp.client() as c:
            response = c.post("/api/v1/sync", json={"tag_name": tag, "location": location, **extra})
            assert response.status_code == 200, response.text
            return str(response.json())

    def wait_job(self, job_id: str, timeout: float = 180) -> dict:
        def finished() -> dict | None:
            with self.cp.client() as c:
                job = c.get(f"/api/v1/sync/{job_id}").json()
            return job if job["status"] in ("completed", "failed") else None

        return wait_until(finished, timeout, interval=0.2, what=f"sync job {job_id}")

    def counters(self, agent: AgentProc) -> dict[str, float]:
        """The agent's pull counters (0 when it has pulled nothing since it started)."""
        port = re.findall(r"http on \S+:(\d+)", agent.log())[-1]
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        found = dict(re.findall(r"^videorec_agent_sync_(pulled|resumed)_bytes_total (\S+)$", text, re.M))
        return {k: float(found.get(k, 0.0)) for k in ("pulled", "resumed")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # A high bit rate, so a few seconds make a file that takes a while at a capped rate.
    with (
        start_rtsp_camera(bitrate=4000) as camera,
        start_stack(
            tmp_path_factory.mktemp("pull"),
            agents=["src", "dest"],
            cp_env={"VIDEOREC_SYNC_AGENTS": '["dest"]', "VIDEOREC_SYNC_RETRIES": "12"},
        ) as stack,
    ):
        yield Site(stack, camera)


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - the record's checksum


def copy_of(site: Site, tag: str) -> Path:
    with site.cp.client() as c:
        (row,) = c.get("/api/v1/record", params={"tag_name": tag}).json()
    assert row["sync_location"] and row["sync_location"].startswith("dest:"), row
    return record_file(row, site.dest.storage, "sync_location")


def test_the_destination_pulls_the_record_and_its_md5_matches(site: Site) -> None:
    record = site.record("pulled", seconds=2)
    before = site.counters(site.dest)
    job = site.wait_job(site.sync("pulled", "agent://dest/pulled"))
    assert job["status"] == "completed", job
    assert job["bytes_done"] == job["bytes_total"] == record["size_bytes"]
    copy = copy_of(site, "pulled")
    assert copy.is_relative_to(site.dest.storage.resolve())
    assert md5_file(copy) == record["hash_md5"]
    # The bytes came over the pull (the destination fetched them itself), each exactly once.
    after = site.counters(site.dest)
    assert after["pulled"] - before["pulled"] == record["size_bytes"]
    assert after["resumed"] == before["resumed"]
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no partial left behind


def test_a_pull_cut_by_the_destination_dying_resumes_where_it_stopped(site: Site) -> None:
    record = site.record("resumed", seconds=5)
    size = record["size_bytes"]
    # About 10 s at the cap, killed an eighth of the way: seconds to spare for a test process that a
    # loaded machine lets run late (under CI load one saw the whole copy written by then).
    rate = max(size // 10, 64 * 1024)
    job_id = site.sync("resumed", "agent://dest/resumed", bandwidth_bps=rate)
    folder = site.dest.storage / "sync" / "resumed"

    def partial() -> Path | None:
        found = list(folder.glob("*.resume")) if folder.exists() else []
        return found[0] if found and found[0].stat().st_size >= size // 8 else None

    resume_file = wait_until(partial, 60, interval=0.05, what="an eighth of the copy written")
    site.dest.kill()  # SIGKILL: no chance to tidy up
    try:
        written = resume_file.stat().st_size
        assert 0 < written < size, (written, size)
    finally:  # the module's other tests need the destination, whatever this one found
        site.stack.restart_agent(site.dest)  # the same agent and storage, online again
    job = site.wait_job(job_id)
    assert job["status"] == "completed", job
    assert job["items"][0]["attempts"] >= 2
    assert job["bytes_done"] == job["bytes_total"] == size  # the job counts the whole record once
    copy = copy_of(site, "resumed")
    assert md5_file(copy) == record["hash_md5"]
    # The restarted agent fetched only what it did not have: its counters started at 0.
    assert site.counters(site.dest) == {"pulled": size - written, "resumed": written}
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]


def test_the_destination_refuses_urls_the_control_plane_did_not_sign(site: Site) -> None:
    record = site.record("refused", seconds=1)
    with site.cp.client() as c:
        signed = c.get(f"/api/v1/record/{record['id']}/video_url").json()["url"]
    parts = urlsplit(signed)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    later = int(time.time()) + 60

    def resigned(location: str, expires: int) -> str:
        grant = MediaGrant(record["id"], location, expires)
        return f"{base}?{urlencode(grant.query(media_key(AGENT_TOKEN, 'src')))}"

    journal = f"src:{site.src.storage / 'journal.sqlite3'}"
    refused = {
        "a file URL": ("file:///etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
        "not a media URL": (
            f"{parts.scheme}://{parts.netloc}/metrics?signature=x",
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        "another record's URL": (
            signed.replace(f"/media/{record['id']}", "/media/another-record"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        "unsigned": (f"{base}?location={query['location']}", grpc.StatusCode.INVALID_ARGUMENT),
        "tampered signature": (
            f"{base}?{urlencode({**query, 'signature': tampered(query['signature'])})}",
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        "later expiry, same signature": (
            f"{base}?{urlencode({**query, 'expires': str(later + 3600)})}",
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        "expired": (resigned(record["location"], int(time.time()) - 1), grpc.StatusCode.PERMISSION_DENIED),
        "outside the record": (resigned(journal, later), grpc.StatusCode.NOT_FOUND),
    }
    header = pb.WriteFileHeader(
        record_id=record["id"], path="refused", size=record["size_bytes"], hash_md5=record["hash_md5"]
    )
    metadata = (("authorization", f"Bearer {AGENT_TOKEN}"),)

    def pull(url: str, auth: tuple = metadata) -> grpc.StatusCode:
        with grpc.insecure_channel(site.dest.address()) as channel:
            stub = agent_pb2_grpc.AgentStub(channel)
            try:
                list(stub.PullFile(pb.PullFileRequest(header=header, url=url), timeout=30, metadata=auth))
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    for what, (url, code) in refused.items():
        assert pull(url) == code, what
    assert pull(signed, auth=()) == grpc.StatusCode.UNAUTHENTICATED  # only the control plane asks
    assert not (site.dest.storage / "sync" / "refused").exists() or not any(
        (site.dest.storage / "sync" / "refused").iterdir()
    ), "a refused pull left something behind"
    # The URL the control plane signed works, which is what makes the refusals above mean something.
    assert pull(signed) == grpc.StatusCode.OK
    assert md5_file(site.dest.storage / "sync" / "refused" / f"{record['id']}.mp4") == record["hash_md5"]
