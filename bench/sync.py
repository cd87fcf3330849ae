"""Agent-to-agent sync throughput against a plain file copy on the same disk, in the same run.

    .venv/bin/python bench/sync.py [--seconds 20] [--runs 3] [--quick]

A recording is made on agent 1 with a high-bitrate MJPEG template (about 5 MB/s, so a large file
is quick to make), then synced to agent 2 (`agent://bench-agent-2/...`): agent 2 pulls the file
from the URL the control plane signed on agent 1's HTTP port (PullFile; agent 1 sends it with
sendfile), hashes it while writing and fsyncs before it keeps it; the control plane only signs,
calls and records. Measured two ways: the whole sync job (POST /sync until GET says completed:
job lease, database writes and polling included), and the PullFile call alone (the same call the
job makes, straight to agent 2 with a URL from /video_url).

Baselines on the same disk: copying the file with shutil.copyfile + fsync, and the same copy with
its MD5 computed as well (one core, 4 MiB reads): the least any verified copy costs. Each run
syncs to a new path, so nothing is skipped as already synced. Goal: >= 0.5x the plain copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import hashlib
import os
import shutil
import statistics
import time

import grpc

from bench.common import markdown_table, ratio, yes_no
from bench.record_common import (
    add_to_group,
    make_group,
    record_path,
    records,
    running_cluster,
    start_tag,
    stop_tag,
)
from shared.rpc import agent_pb2 as pb
from shared.rpc import agent_pb2_grpc
from videorec_testing.processes import AGENT_TOKEN, AgentProc, ControlPlane, wait_until

HIGH_RATE = "ffmpeg -rtsp_transport tcp -i {input} -c:v mjpeg -q:v 2 -an -f mp4 -movflags +frag_keyframe+empty_moov+default_base_moof {output}"


def plain_copy(path: Path, into: Path) -> float:
    started = time.perf_counter()
    target = into / f"copy-{time.monotonic_ns()}.mp4"
    shutil.copyfile(path, target)
    with target.open("rb+") as f:
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def copy_with_md5(path: Path, into: Path) -> float:
    """The plain copy, hashed on the way: what a verified copy costs at least on one core."""
    started = time.perf_counter()
    target = into / f"md5-copy-{time.monotonic_ns()}.mp4"
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as src, target.open("wb") as dst:
        while data := src.read(4 * 2**20):
            digest.update(data)
            dst.write(data)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def pull_once(cp: ControlPlane, dest: AgentProc, record: dict, path: str) -> float:
    """One PullFile call to `dest` with a URL the control plane signed, as the sync job makes it."""
    with cp.client() as c:
        url = c.get(f"/api/v1/record/{record['id']}/video_url").json()["url"]
    header = pb.WriteFileHeader(
        record_id=record["id"], path=path, size=record["size_bytes"], hash_md5=record["hash_md5"]
    )
    with grpc.insecure_channel(dest.address()) as channel:
        stub = agent_pb2_grpc.AgentStub(channel)
        started = time.perf_counter()
        steps = list(
            stub.PullFile(
                pb.PullFileRequest(header=header, url=url),
                timeout=600,
                metadata=(("authorization", f"Bearer {AGENT_TOKEN}"),),
            )
        )
        elapsed = time.perf_counter() - started
    result = steps[-1].result
    assert result.hash_md5 == record["hash_md5"] and result.size == record["size_bytes"], result
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the recording to sync")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 10 s recording, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs = 10.0, 3
    cp_env = {"VIDEOREC_SYNC_AGENTS": '["bench-agent-2"]', "VIDEOREC_SYNC_RETRIES": "0"}
    with running_cluster(2, camera={"width": 1280, "height": 720, "fps": 25}, cp_env=cp_env) as cluster:
        cp = cluster.cp
        with cp.client() as c:
            source = c.post(
                "/api/v1/source",
                json={
                    "model": "Source",
                    "uri_rtsp": cluster.camera.url,
                    "agent": "bench-agent-1",
                    "ffmpeg_cmd": HIGH_RATE,
                },
            ).json()
        group = make_group(cp, "sync-bench")
        add_to_group(cp, group, [source["id"]])
        start_tag(cp, "sync-bench", "sync-bench")
        time.sleep(args.seconds)
        stop_tag(cp, "sync-bench")
        (record,) = records(cp, "sync-bench")
        size = record["size_bytes"]
        source_file = record_path(record, cluster.agents)
        sync_times, copy_times, md5_times, pull_times = [], [], [], []
        for run in range(args.runs):
            copy_times.append(plain_copy(source_file, source_file.parent))
            md5_times.append(copy_with_md5(source_file, source_file.parent))
            pull_times.append(pull_once(cp, cluster.agents[1], record, f"pull{run}"))
            started = time.perf_counter()
            with cp.client() as c:
                job_id = c.post(
                    "/api/v1/sync",
                    json={"tag_name": "sync-bench", "location": f"agent://bench-agent-2/run{run}"},
                ).json()

            def done(job_id: str = job_id) -> dict | None:
                with cp.client() as c:
                    job = c.get(f"/api/v1/sync/{job_id}").json()
                return job if job["status"] in ("completed", "failed") else None

            job = wait_until(done, 600, interval=0.02, what="sync job")
            sync_times.append(time.perf_counter() - started)
            assert job["status"] == "completed" and job["bytes_done"] == size, job
        mib = size / 2**20
        copy_rate = mib / statistics.median(copy_times)
        md5_rate = mib / statistics.median(md5_times)
        pull_rate = mib / statistics.median(pull_times)
        sync_rate = mib / statistics.median(sync_times)
        print(f"recording: {mib:.1f} MiB ({args.seconds:g} s of 1280x720 MJPEG); {args.runs} runs, median\n")
        print(
            markdown_table(
                ["path", "median s", "MiB/s", "vs plain copy"],
                [
                    [
                        "plain copy + fsync (baseline)",
                        f"{statistics.median(copy_times):.3f}",
                        f"{copy_rate:.0f}",
                        "1.00x",
                    ],
                    [
                        "plain copy + MD5 + fsync (one core)",
                        f"{statistics.median(md5_times):.3f}",
                        f"{md5_rate:.0f}",
                        ratio(md5_rate, copy_rate),
                    ],
                    [
                        "PullFile alone: agent 2 pulls from agent 1's HTTP port, MD5 + fsync",
                        f"{statistics.median(pull_times):.3f}",
                        f"{pull_rate:.0f}",
                        ratio(pull_rate, copy_rate),
                    ],
                    [
                        "sync job agent:// (POST /sync until completed; pull as above)",
                        f"{statistics.median(sync_times):.3f}",
                        f"{sync_rate:.0f}",
                        ratio(sync_rate, copy_rate),
                    ],
                ],
                "lrrr",
            )
        )
        print()
        print(
            markdown_table(
                ["goal", "target", "measured", "met"],
                [
                    [
                        "sync job vs plain copy",
                        ">= 0.50x",
                        ratio(sync_rate, copy_rate),
                        yes_no(sync_rate >= 0.5 * copy_rate),
                    ]
                ],
                "lrrl",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
