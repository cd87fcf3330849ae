"""Bytes written per byte recorded, for a record whose ffmpeg dies part-way (a camera drop, a pause
for disk space, a crash) and is started again, against bare ffmpeg recording the same camera.

The record's next ffmpeg continues the record's file itself (default template), or, for any other
template, writes a part of its own that the agent copies into the record's file: every byte after
the restart is then written twice. Counted from `wchar` of /proc/self/io, which includes the
children this process waited for (every ffmpeg), so ffmpeg's writes, the agent's copies and its
journal are all in it. The agent runs in this process, without live viewers (their pipes would
count too).

    .venv/bin/python bench/reconnect_writes.py [--seconds 12] [--kill-at 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from agent.cameras.spec import CameraSpec  # noqa: E402
from agent.recording.manager import RecordManager  # noqa: E402
from bench.common import markdown_table  # noqa: E402
from shared.ffmpeg_cmd import DEFAULT_RECORD_TEMPLATE  # noqa: E402
from videorec_testing.cameras import start_rtsp_camera  # noqa: E402
from videorec_testing.wait import await_until  # noqa: E402

MIB = 1 << 20
# The default template but for its log level: a user's template, so the copy path.
OTHER_TEMPLATE = DEFAULT_RECORD_TEMPLATE.replace("-loglevel warning", "-loglevel error")


def wchar() -> int:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["wchar"])


async def record_once(
    root: Path, url: str, template: str | None, seconds: float, kill_at: float
) -> tuple[int, int]:
    """One record of `seconds`, its ffmpeg SIGKILLed after `kill_at`: (file bytes, bytes written)."""
    before = wchar()
    async with httpx.AsyncClient() as http:
        manager = RecordManager(root, "bench", "ffmpeg", http, stall_timeout_s=3.0, max_backoff_s=1.0)
        await manager.open()
        try:
            record_id = str(uuid.uuid4())
            await manager.start(record_id, "bench", CameraSpec(1, rtsp_url=url), template)
            await await_until(lambda: manager.get(record_id).growing, 30, what="video")
            await asyncio.sleep(kill_at)  # a bench: the camera's time is what is measured
            first = manager.recording(record_id).pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await await_until(
                lambda: manager.recording(record_id).pid not in (None, first), 30, what="a restart"
            )
            await asyncio.sleep(seconds - kill_at)
            done = await manager.stop(record_id)
        finally:
            await manager.aclose()
    assert done.status == "completed", done
    return done.path.stat().st_size, wchar() - before


def bare_ffmpeg(root: Path, url: str, seconds: float) -> tuple[int, int]:
    before = wchar()
    out = root / "bare.mp4"
    argv = ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-t", str(seconds), "-c", "copy"]
    argv += ["-f", "mov", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(out)]
    subprocess.run(argv, check=True, timeout=seconds + 60)
    return out.stat().st_size, wchar() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--kill-at", type=float, default=4.0)
    args = parser.parse_args()
    cam = start_rtsp_camera(bitrate=4000)
    rows = []
    try:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
            root = Path(tmp)
            size, written = bare_ffmpeg(root, cam.url, args.seconds)
            rows.append(("bare ffmpeg -c copy, no restart (baseline)", size, written))
            for name, template in (
                ("agent, default template: the restarted ffmpeg writes the file", None),
                ("agent, another template: a part copied into the file", OTHER_TEMPLATE),
            ):
                folder = root / f"agent-{len(rows)}"
                size, written = asyncio.run(
                    record_once(folder, cam.url, template, args.seconds, args.kill_at)
                )
                rows.append((name, size, written))
    finally:
        cam.stop()
    print(
        f"Record of {args.seconds:g} s at 4 Mbit/s, its ffmpeg SIGKILLed after {args.kill_at:g} s (bytes written: wchar)\n"
    )
    table = [
        (name, f"{size / MIB:.2f}", f"{written / MIB:.2f}", f"{written / size:.2f}")
        for name, size, written in rows
    ]
    print(markdown_table(["run", "file MiB", "written MiB", "written / file"], table))


if __name__ == "__main__":
    main()
