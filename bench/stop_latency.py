"""Stop latency of a recording, by its length, against the old join-and-hash path in the same run.

What a stop costs on the agent: sealing the record's file (hashing what was written since the last
follow, here the last few fragments) and renaming it final; the old path joined the parts with
ffmpeg into a new file, probed it and read it all again for its MD5. The record files are real
fragmented MP4: one high-bitrate part made by ffmpeg, its fragments appended again and again (the
agent's own append, as after reconnects) up to the size, and the stop finds the last two fragments
of the last part not yet appended (the multi-part case; a one-part record writes nothing at stop).
Bytes read/written at stop are `rchar`/`wchar` of /proc/self/io, which also counts the children
this process waited for (the old path's ffmpeg and ffprobe).

    .venv/bin/python bench/stop_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.files.finalise import make_final_file  # noqa: E402
from agent.files.fmp4 import top_boxes  # noqa: E402
from agent.files.record_file import RecordFile  # noqa: E402
from bench.common import markdown_table, percentile  # noqa: E402

MIB = 1 << 20
TRIALS = 7


def make_seed(path: Path) -> None:
    """8 s of 720p at ~16 Mbit/s (a busy, high-bitrate camera), 1 s fragments, the agent's flags."""
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"]
    argv += ["-vf", "noise=alls=12:allf=t", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"]
    argv += ["-b:v", "16M", "-maxrate", "16M", "-bufsize", "4M", "-pix_fmt", "yuv420p", "-f", "mov"]
    argv += [
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof",
        "-frag_duration",
        "1000000",
        str(path),
    ]
    subprocess.run(argv, check=True)


def io_counters() -> tuple[int, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


def unfollowed_tail(seed: Path) -> int:
    """Where the seed's last two fragments begin: what a stop finds not yet followed (the follower
    runs every 0.5 s, ffmpeg writes a fragment per second and flushes the last one at its exit)."""
    with seed.open("rb") as f:
        moofs = [b.offset for b in top_boxes(f, 0, seed.stat().st_size) if b.type == b"moof"]
    return moofs[-2]


def build(directory: Path, seed: Path, size: int) -> tuple[RecordFile, Path, int]:
    """A record file of about `size` bytes, followed as the agent follows it while recording, with a
    last part whose last two fragments are written but not followed yet (what a stop finds)."""
    directory.mkdir(parents=True)
    main = Path(shutil.copy(seed, directory / "part-0001.mp4"))
    record = RecordFile(main)
    record.follow()
    number = 1
    while record.hashed < size:
        number += 1
        src = directory / f"part-{number:04d}.mp4"
        data = seed.read_bytes()
        last = record.hashed + len(data) >= size
        src.write_bytes(data[: unfollowed_tail(seed)] if last else data)
        record.append_from(src)
        record.follow()
        if last:
            src.write_bytes(data)  # ffmpeg wrote the rest and exited; the stop comes now
    return record, main, record.hashed


def stop_new(record: RecordFile, main: Path, final: Path) -> tuple[float, int, int, str]:
    """One stop: seal + rename; the file and the follower's state are put back afterwards."""
    trial = copy.copy(record)
    trial._md5 = record._md5.copy()
    trial._source = copy.copy(record._source)
    trial._ends, trial._starts = dict(record._ends), dict(record._starts)
    before, r0, w0 = time.perf_counter(), *io_counters()
    sealed = trial.seal()
    os.replace(main, final)
    elapsed, r1, w1 = time.perf_counter() - before, *io_counters()
    os.replace(final, main)
    with main.open("r+b") as f:
        f.truncate(record.hashed)
    return elapsed, r1 - r0, w1 - w0, sealed.md5


async def stop_old(main: Path, final: Path) -> tuple[float, int, int]:
    before, r0, w0 = time.perf_counter(), *io_counters()
    await make_final_file([main], final, "ffmpeg")
    elapsed, r1, w1 = time.perf_counter() - before, *io_counters()
    final.unlink()
    return elapsed, r1 - r0, w1 - w0  # ffmpeg's and ffprobe's too: they are reaped children


def row(
    label: str, new: list[float], new_io: tuple[int, int], old: list[float], old_io: tuple[int, int]
) -> list[str]:
    def ms(values: list[float], p: float) -> str:
        return f"{percentile(values, p) * 1000:.0f} ms"

    return [
        label,
        ms(new, 50),
        ms(new, 95),
        f"{new_io[0] / MIB:.1f} / {new_io[1] / MIB:.1f} MiB",
        ms(old, 50),
        ms(old, 95),
        f"{old_io[0] / MIB:.0f} / {old_io[1] / MIB:.0f} MiB",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    sizes = [("100 MiB", 100 * MIB), ("1 GiB", 1024 * MIB), ("2.1 GiB", 2150 * MIB)]
    cameras, camera_size = 16, 100 * MIB
    if args.quick:
        sizes, cameras, camera_size = [("20 MiB", 20 * MIB), ("60 MiB", 60 * MIB)], 4, 20 * MIB
    print(f"seed: 8 s of 720p at 16 Mbit/s, 1 s fragments; {TRIALS} stops per size", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="stop-latency-") as tmp:
        root = Path(tmp)
        seed = root / "seed.mp4"
        make_seed(seed)
        for label, size in sizes:
            record, main, _ = build(root / label.replace(" ", ""), seed, size)
            label = f"{label} ({record.hashed / MIB:.0f} MiB before the stop)"
            final = main.with_name("final.mp4")
            new = [stop_new(record, main, final) for _ in range(TRIALS)]
            assert len({md5 for *_, md5 in new}) == 1
            old = [await stop_old(main, final) for _ in range(1 if size > 200 * MIB else 3)]
            rows.append(
                row(
                    f"one record, {label}",
                    [t for t, *_ in new],
                    (max(r for _, r, _, _ in new), max(w for _, _, w, _ in new)),
                    [t for t, _, _ in old],
                    (max(r for _, r, _ in old), max(w for _, _, w in old)),
                )
            )
            shutil.rmtree(main.parent)
        built = [build(root / f"cam{n}", seed, camera_size) for n in range(cameras)]
        new_all: list[float] = []
        for _ in range(3):
            before = time.perf_counter()
            await asyncio.gather(
                *(asyncio.to_thread(stop_new, r, m, m.with_name("final.mp4")) for r, m, _ in built)
            )
            new_all.append(time.perf_counter() - before)
        before = time.perf_counter()
        await asyncio.gather(*(stop_old(m, m.with_name("final.mp4")) for _, m, _ in built))
        old_all = [time.perf_counter() - before]
        tail = seed.stat().st_size - unfollowed_tail(seed)  # per record; /proc/self/io mixes threads
        rows.append(
            row(
                f"{cameras} records of {camera_size // MIB} MiB at once (all stopped)",
                new_all,
                (cameras * tail, cameras * tail),
                old_all,
                (2 * cameras * built[0][2], cameras * built[0][2]),
            )
        )
    headers = [
        "case",
        "stop p50",
        "stop p95",
        "read / written at stop",
        "old p50",
        "old p95",
        "old read / written",
    ]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    asyncio.run(main())
