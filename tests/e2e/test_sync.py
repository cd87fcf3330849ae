"""Sync of a tag's recordings to another agent and to another deployment, verified by MD5."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from videorec_testing.cameras import RtspCamera, start_rtsp_camera
from videorec_testing.processes import AgentProc, ControlPlane, wait_agent_online
from videorec_testing.records import record_file
from videorec_testing.s3 import MotoS3, moto_s3, small_parts_allowed
from videorec_testing.stack import Stack, start_stack
from videorec_testing.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("sync")]
PEER_TOKEN = "peer-api-token"
SMALL_PART = 128 * 1024  # so that a few seconds of video go through the multipart path
RECORD_BYTES = 300_000  # about three seconds of the test camera's video


class Site:
    """A deployment (`stack`: agents `src` and `dest`) that syncs to another one (`peer`) and buckets."""

    def __init__(self, stack: Stack, peer: Stack, camera: RtspCamera, s3: MotoS3, parted: MotoS3) -> None:
        self.stack, self.peer_stack = stack, peer
        self.camera = camera
        self.s3 = s3
        self.parted = parted  # a server of its own, killed by a test, whose bucket takes small parts

    @property
    def cp(self) -> ControlPlane:
        return self.stack.cp  # the one running now (a test restarts it)

    @property
    def peer(self) -> ControlPlane:
        return self.peer_stack.cp

    @property
    def peer_port(self) -> int:
        return int(self.peer.url.rsplit(":", 1)[1])

    @property
    def src(self) -> AgentProc:
        return self.stack.agent_named("src")

    @property
    def dest(self) -> AgentProc:
        return self.stack.agent_named("dest")

    def record(self, tag: str, min_bytes: int = RECORD_BYTES) -> list[dict]:
        """Record the camera on `src` until the file holds `min_bytes` (what the tests need: a copy
        slow enough to interrupt, several parts), then stop."""
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
            last = f"bytes={min_bytes - 1}-{min_bytes - 1}"
            wait_until(
                lambda: (
                    c.get(
                        f"/api/v1/record/{self.records(tag)[0]['id']}/video", headers={"Range": last}
                    ).status_code
                    == 206
                ),
                60,
                interval=0.2,
                what=f"{min_bytes} bytes of video on disk",
            )
            assert c.put("/api/v1/record", json={"tag_name": tag}).status_code == 200
        rows = self.records(tag)
        assert all(r["status"] == "completed" for r in rows), rows
        return rows

    def copying(self, path: str) -> bool:
        """Whether bytes of a copy to `agent://dest/<path>` are arriving (job counters move per record)."""
        folder = self.dest.storage / "sync" / path
        # A pushed copy is written to `*.partial`, a pulled one to `*.resume` (kept for a resume).
        return any(p.stat().st_size > 0 for p in [*folder.glob("*.partial"), *folder.glob("*.resume")])

    def records(self, tag: str, cp: ControlPlane | None = None) -> list[dict]:
        with (cp or self.cp).client() as c:
            return c.get("/api/v1/record", params={"tag_name": tag}).json()

    def sync(self, tag: str, location: str, **extra: object) -> str:
        with self.cp.client() as c:
            response = c.post("/api/v1/sync", json={"tag_name": tag, "location": location, **extra})
            assert response.status_code == 200, response.text
            job_id = response.json()
            assert isinstance(job_id, str)
            return job_id

    def job(self, job_id: str) -> dict:
        with self.cp.client() as c:
            job = c.get(f"/api/v1/sync/{job_id}").json()
            assert isinstance(job, dict)
            return job

    def wait_job(self, job_id: str, timeout: float = 90, progress: list[int] | None = None) -> dict:
        """Until the job ends; `progress` collects every bytes_done seen on the way."""

        def finished() -> dict | None:
            try:
                job = self.job(job_id)
            except httpx.TransportError:  # a control plane being restarted
                return None
            if progress is not None:
                progress.append(job["bytes_done"])
            return job if job["status"] in ("completed", "failed") else None

        return wait_until(finished, timeout, interval=0.2, what=f"sync job {job_id}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("sync")
    with contextlib.ExitStack() as running:
        camera = running.enter_context(start_rtsp_camera())
        s3, parted = running.enter_context(moto_s3()), running.enter_context(moto_s3())
        running.enter_context(small_parts_allowed(SMALL_PART))
        peer_env = {"VIDEOREC_API_TOKEN": PEER_TOKEN}
        peer = running.enter_context(start_stack(tmp / "peer", agents=["peer-agent"], cp_env=peer_env))
        peers = {peer.cp.url.removeprefix("http://"): {"token": PEER_TOKEN}}
        buckets = {s3.bucket: s3.settings_json(), parted.bucket: parted.settings_json(part_size=SMALL_PART)}
        cp_env = {
            "VIDEOREC_SYNC_AGENTS": '["dest"]',
            "VIDEOREC_SYNC_PEERS": json.dumps(peers),
            "VIDEOREC_SYNC_BUCKETS": json.dumps(buckets),
            "VIDEOREC_SYNC_RETRIES": "12",
            "VIDEOREC_SYNC_LEASE_S": "3",
        }
        stack = running.enter_context(start_stack(tmp, agents=["src", "dest"], cp_env=cp_env))
        yield Site(stack, peer, camera, s3, parted)


def md5_of(cp: ControlPlane, record_id: str) -> str:
    with cp.client(timeout=60) as c:
        response = c.get(f"/api/v1/record/{record_id}/video")
        assert response.status_code == 200
        return hashlib.md5(response.content).hexdigest()  # noqa: S324 - what the API promises


def test_sync_to_another_agent_is_verified_and_idempotent(site: Site) -> None:
    (record,) = site.record("to-agent")
    job = site.wait_job(site.sync("to-agent", "agent://dest/archive"))
    assert job["status"] == "completed", job
    assert (job["records_total"], job["records_done"]) == (1, 1)
    assert job["bytes_done"] == job["bytes_total"] == record["size_bytes"]
    (synced,) = site.records("to-agent")
    assert synced["sync_location"].startswith("dest:")
    assert not synced["sync_location"].partition(":")[2].startswith("/")  # the root is the agent's own
    copy = record_file(synced, site.dest.storage, "sync_location")
    assert copy.resolve().is_relative_to(site.dest.storage.resolve())
    assert hashlib.md5(copy.read_bytes()).hexdigest() == record["hash_md5"]  # noqa: S324
    # Again: nothing is copied twice, the record keeps its one sync_location.
    again = site.wait_job(site.sync("to-agent", "agent://dest/archive"))
    assert again["status"] == "completed" and again["bytes_done"] == 0
    assert again["items"][0]["status"] == "skipped"
    assert site.records("to-agent")[0]["sync_location"] == synced["sync_location"]
    with site.cp.client() as c:
        assert {j["id"] for j in c.get("/api/v1/sync").json()} >= {job["id"], again["id"]}
        # Deleting the copy at its sync_location removes it and clears the field; the original stays.
        response = c.delete(
            f"/api/v1/record/{record['id']}/file", params={"location": synced["sync_location"]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["sync_location"] is None and response.json()["status"] == "completed"
    assert not copy.exists()
    assert md5_of(site.cp, record["id"]) == record["hash_md5"]


def test_sync_to_another_deployment_imports_the_records(site: Site) -> None:
    (record,) = site.record("to-peer")
    job = site.wait_job(site.sync("to-peer", f"http://127.0.0.1:{site.peer_port}/"))
    assert job["status"] == "completed", job
    (synced,) = site.records("to-peer")
    assert synced["sync_location"].startswith(f"http://127.0.0.1:{site.peer_port}/")
    (remote,) = site.records("to-peer", site.peer)
    assert remote["id"] == record["id"] and remote["status"] == "completed"
    assert remote["hash_md5"] == record["hash_md5"]
    assert md5_of(site.peer, remote["id"]) == record["hash_md5"]


def test_sync_to_s3_uploads_verified_objects_and_deletes_them(site: Site) -> None:
    (record,) = site.record("to-s3")
    job = site.wait_job(site.sync("to-s3", f"s3://{site.s3.bucket}/archive/site-a"))
    assert job["status"] == "completed", job
    (synced,) = site.records("to-s3")
    location = synced["sync_location"]
    assert location == f"s3://{site.s3.bucket}/archive/site-a/to-s3/{record['id']}.mp4"
    key = location.split("/", 3)[3]
    body = site.s3.client().get_object(Bucket=site.s3.bucket, Key=key)["Body"].read()
    assert hashlib.md5(body).hexdigest() == record["hash_md5"]  # noqa: S324
    # Idempotent: the object is not uploaded again.
    again = site.wait_job(site.sync("to-s3", f"s3://{site.s3.bucket}/archive/site-a"))
    assert again["items"][0]["status"] == "skipped"
    with site.cp.client() as c:
        response = c.delete(f"/api/v1/record/{record['id']}/file", params={"location": location})
        assert response.status_code == 200, response.text
    listed = site.s3.client().list_objects_v2(Bucket=site.s3.bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == []


@pytest.mark.parametrize(
    "location",
    [
        "agent://src/../../etc",
        "agent://nobody/x",
        "file:///tmp/x",
        "https://evil.example/",
        "http://10.1.2.3/",
        "s3://not-configured/x",
        "agent://dest/a%2F..%2Fb",
        "ftp://127.0.0.1/",
    ],
)
def test_locations_outside_the_allow_list_are_422(site: Site, location: str) -> None:
    with site.cp.client() as c:
        before = c.get("/api/v1/sync").json()
        c.post("/api/v1/group", json={"name": "g-refused"})
        response = c.post("/api/v1/sync", json={"tag_name": "to-agent", "location": location})
        assert response.status_code == 422, location
        assert response.json()["detail"][0]["loc"] == ["body", "location"]
        assert c.get("/api/v1/sync").json() == before


def test_sync_of_unknown_tag_is_404(site: Site) -> None:
    with site.cp.client() as c:
        assert (
            c.post("/api/v1/sync", json={"tag_name": "nope", "location": "agent://dest/x"}).status_code == 404
        )
        assert c.get("/api/v1/sync/not-a-job").status_code == 404


def _sync_counters(site: Site) -> dict[str, float]:
    text = httpx.get(site.cp.url + "/metrics", timeout=10).text
    values = dict(re.findall(r"^videorec_sync_(failures|md5_mismatches)_total (\S+)$", text, re.M))
    return {"failures": float(values["failures"]), "mismatches": float(values["md5_mismatches"])}


def test_a_corrupted_copy_is_detected_and_never_marked_synced(site: Site) -> None:
    (record,) = site.record("rot")
    path = record_file(record, site.src.storage)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the disk rotted after the record was hashed
    path.write_bytes(bytes(data))
    before = _sync_counters(site)
    job = site.wait_job(site.sync("rot", "agent://dest/rot"), timeout=120)
    assert job["status"] == "failed"
    after = _sync_counters(site)
    # Counted for the alert on failing syncs: one record given up on, each bad copy a mismatch.
    assert after["failures"] == before["failures"] + 1
    assert after["mismatches"] >= before["mismatches"] + 1
    (error,) = job["errors"]
    assert error["record_id"] == record["id"] and "md5" in error["error"].lower()
    assert site.records("rot")[0]["sync_location"] is None
    assert not list((site.dest.storage / "sync" / "rot").glob("*.mp4"))


def test_destination_killed_mid_copy_then_back_completes(site: Site) -> None:
    (record,) = site.record("resume", min_bytes=400_000)
    # A slow link (so the copy is still running when the destination dies).
    rate = max(record["size_bytes"] // 4, 50_000)
    job_id = site.sync("resume", "agent://dest/resume", bandwidth_bps=rate)
    wait_until(lambda: site.copying("resume"), 60, interval=0.1, what="the copy under way")
    site.dest.kill()
    wait_until(lambda: site.job(job_id)["items"][0]["error"], 60, interval=0.2, what="a failed attempt")
    site.stack.restart_agent(site.dest)  # back, on the same storage
    job = site.wait_job(job_id, timeout=120)
    assert job["status"] == "completed", job
    assert job["items"][0]["attempts"] >= 2
    (synced,) = site.records("resume")
    copy = record_file(synced, site.dest.storage, "sync_location")
    assert hashlib.md5(copy.read_bytes()).hexdigest() == record["hash_md5"]  # noqa: S324
    assert len(list(copy.parent.glob("*.mp4"))) == 1  # no duplicate copies


def test_control_plane_restarted_mid_copy_resumes_the_job(site: Site) -> None:
    (record,) = site.record("cp-restart", min_bytes=400_000)
    rate = max(record["size_bytes"] // 5, 50_000)
    job_id = site.sync("cp-restart", "agent://dest/cp-restart", bandwidth_bps=rate)
    wait_until(lambda: site.copying("cp-restart"), 60, interval=0.1, what="the copy under way")
    progress = [site.job(job_id)["bytes_done"]]
    site.stack.restart_cp(kill=True)  # mid-copy, without a chance to release its lease
    for name in ("src", "dest"):
        wait_agent_online(site.cp, name)
    job = site.wait_job(job_id, timeout=120, progress=progress)
    assert job["status"] == "completed", job
    assert progress == sorted(progress), progress  # progress never went backwards
    assert job["bytes_done"] == job["bytes_total"] == record["size_bytes"]  # every byte counted once
    (synced,) = site.records("cp-restart")
    copy = record_file(synced, site.dest.storage, "sync_location")
    assert hashlib.md5(copy.read_bytes()).hexdigest() == record["hash_md5"]  # noqa: S324
    assert len(list(copy.parent.glob("*"))) == 1  # one copy, no leftovers of the broken one


def test_bandwidth_cap_holds_the_real_rate_of_a_sync(site: Site) -> None:
    (record,) = site.record("capped")
    size = record["size_bytes"]
    cap = max(size // 3, 16 * 1024)  # about three seconds at the cap
    started = time.monotonic()
    job = site.wait_job(site.sync("capped", "agent://dest/capped", bandwidth_bps=cap), timeout=120)
    elapsed = time.monotonic() - started
    assert job["status"] == "completed", job
    # A lower bound only: a loaded machine makes a copy slower, never faster than the cap allows.
    assert elapsed >= 0.8 * size / cap, (elapsed, size, cap)


def test_multipart_upload_cut_by_a_dead_bucket_is_cleaned_up_and_retried(site: Site) -> None:
    s3 = site.parted
    (record,) = site.record("parted", min_bytes=4 * SMALL_PART + 50_000)
    assert record["size_bytes"] > 3 * SMALL_PART, record  # several parts
    # About ten seconds of upload: room for the poller below to see a part on a loaded machine.
    rate = max(record["size_bytes"] // 10, 32 * 1024)
    job_id = site.sync("parted", f"s3://{s3.bucket}/archive", bandwidth_bps=rate)

    def a_part_landed() -> bool:
        client = s3.client()
        for upload in client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []):
            try:
                parts = client.list_parts(Bucket=s3.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except client.exceptions.NoSuchUpload:
                continue  # listed, then completed or aborted before this look
            if parts.get("Parts"):
                return True
        return False

    wait_until(a_part_landed, 60, interval=0.1, what="a first part in the bucket")
    s3.kill()  # mid-upload: the copy cannot even abort its upload
    wait_until(lambda: site.job(job_id)["items"][0]["error"], 60, interval=0.2, what="a failed attempt")
    s3.restart()
    job = site.wait_job(job_id, timeout=120)
    assert job["status"] == "completed", job
    (synced,) = site.records("parted")
    key = synced["sync_location"].split("/", 3)[3]
    obj = s3.client().get_object(Bucket=s3.bucket, Key=key)
    assert hashlib.md5(obj["Body"].read()).hexdigest() == record["hash_md5"]  # noqa: S324
    assert int(obj["ETag"].strip('"').rsplit("-", 1)[1]) >= 3  # sent in parts
    # The parts of the upload the dead bucket cut short were aborted by the retry, not left to cost.
    assert s3.client().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_jobs_to_different_destinations_run_at_once(site: Site) -> None:
    (record,) = site.record("parallel")
    cap = max(record["size_bytes"] // 4, 16 * 1024)
    to_agent = site.sync("parallel", "agent://dest/parallel", bandwidth_bps=cap)
    to_bucket = site.sync("parallel", f"s3://{site.s3.bucket}/parallel", bandwidth_bps=cap)
    # Queued jobs are planned (running) only once a runner slot takes them.
    wait_until(
        lambda: {site.job(j)["status"] for j in (to_agent, to_bucket)} == {"running"},
        30,
        interval=0.1,
        what="both jobs running together",
    )
    for job_id in (to_agent, to_bucket):
        assert site.wait_job(job_id, timeout=120)["status"] == "completed"


@pytest.mark.parametrize("bandwidth", [0, -1, 2**64, 2**40 + 1])
def test_out_of_range_bandwidth_is_422(site: Site, bandwidth: int) -> None:
    with site.cp.client() as c:
        response = c.post(
            "/api/v1/sync",
            json={"tag_name": "to-agent", "location": "agent://dest/x", "bandwidth_bps": bandwidth},
        )
        assert response.status_code == 422, response.text


def test_records_still_recording_are_skipped_with_the_reason(site: Site) -> None:
    with site.cp.client(timeout=120) as c:
        group = c.post("/api/v1/group", json={"name": "g-busy"}).json()
        source = c.post(
            "/api/v1/source", json={"model": "Source", "uri_rtsp": site.camera.url, "agent": "src"}
        ).json()
        c.post(f"/api/v1/group/{group['id']}/source/{source['id']}")
        assert c.post("/api/v1/record", json={"tag_name": "busy", "group_name": "g-busy"}).status_code == 200
        try:
            job = site.wait_job(site.sync("busy", "agent://dest/archive"))
        finally:
            assert c.put("/api/v1/record", json={"tag_name": "busy"}).status_code == 200
    assert job["status"] == "completed", job
    (item,) = job["items"]
    assert item["status"] == "skipped"
    assert "recording" in item["error"], item
    (record,) = site.records("busy")
    assert record["sync_location"] is None
    assert list(site.dest.storage.rglob(f"*{record['id']}*")) == []


def test_import_refuses_bytes_that_do_not_match_and_content_that_conflicts(site: Site) -> None:
    data = b"not really a video, but bytes with a known checksum" * 100
    good_md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - the protocol's checksum

    def send(record_id: str, body: bytes, md5: str) -> httpx.Response:
        params = {"tag_name": "imported", "record_id": record_id, "hash_md5": md5, "size": len(body)}
        with site.peer.client() as c:
            return c.post("/api/v1/import", params=params, content=body)

    corrupted = data[:-1] + bytes([data[-1] ^ 0xFF])  # the last byte changed, whatever it was
    mismatch = send("imp-bad", corrupted, good_md5)
    assert mismatch.status_code == 502, mismatch.text  # CopyVerificationError: the bytes are not the MD5
    with site.peer.client() as c:  # nothing half-imported is listed (the tag is not even there)
        listed = c.get("/api/v1/record", params={"tag_name": "imported"})
    assert listed.status_code == 404 or listed.json() == [], listed.text
    assert send("imp-1", data, good_md5).status_code == 200
    assert send("imp-1", data, good_md5).status_code == 200  # the same content again is idempotent
    other = b"other content" * 100
    conflict = send("imp-1", other, hashlib.md5(other).hexdigest())  # noqa: S324
    assert conflict.status_code == 409, conflict.text
    (kept,) = site.records("imported", site.peer)
    assert kept["id"] == "imp-1" and kept["hash_md5"] == good_md5
