"""Agent-to-agent sync throughput against a plain file copy on the same disk, in the same run.

    .venv/bin/python bench/sync.py [--seconds 20] [--runs 3]

A recording is made on agent 1 with a high-bitrate MJPEG template (about 5 MB/s, so a large file
is quick to make), then synced to agent 2 (`agent://bench-agent-2/...`): the bytes go agent 1
ReadFile -> control plane -> agent 2 WriteFile, which hashes while writing and fsyncs before it
keeps the file. Baseline: copying the same file on the same disk with shutil.copyfile + fsync.
Each run syncs to a new path, so nothing is skipped as already synced. Goal: >= 0.5x the copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import shutil
import statistics
import time

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
from tests.support.processes import wait_until

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the recording to sync")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
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
        source_file = record_path(record)
        sync_times, copy_times = [], []
        for run in range(args.runs):
            copy_times.append(plain_copy(source_file, source_file.parent))
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
                        "sync agent -> control plane -> agent",
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
                        "sync vs plain copy",
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
