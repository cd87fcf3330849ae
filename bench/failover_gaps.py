"""Failover gaps over several runs of the real-parts tests (PostgreSQL, agents, an RTSP camera).

- single copy: SIGKILL of the recording agent → first frame of its continuation on the other agent of
  the site (tests/e2e/test_failover.py, the kill test); the floor is VIDEOREC_FAILOVER_AFTER_S (5 s).
- dual recording (`redundancy: 2`): SIGKILL of one of the two agents → the largest step between video
  packets of the surviving copy, and how much shorter than its span it is (the camera's frame
  interval, 1/15 s, is the baseline: no gap); and the kill → first frame of the copy the third agent
  takes over (tests/e2e/test_dual_recording.py).

    .venv/bin/python bench/failover_gaps.py [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = {
    "single": ["tests/e2e/test_failover.py", "-k", "killed"],
    "dual": ["tests/e2e/test_dual_recording.py", "-k", "loses_no_video"],
}


def run_once(args: list[str]) -> dict[str, float]:
    argv = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False).stdout
    found: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith("BENCH "):
            for key, value in re.findall(r"(\S+) ([0-9.]+)", line[len("BENCH ") :]):
                found[key] = float(value)
    if not found:  # a failed run measures nothing: say so rather than shrink the sample quietly
        print(out[-3000:], file=sys.stderr)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    figures: dict[str, list[float]] = {}
    for name, args in TESTS.items():
        for i in range(runs):
            for key, value in run_once(args).items():
                figures.setdefault(key, []).append(value)
            print(
                f"{name} run {i + 1}/{runs}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True
            )
    print("\n| figure | runs | min | median | max |\n|---|---|---|---|---|")
    for key, values in figures.items():
        print(
            f"| {key} | {len(values)} | {min(values):.2f} | {statistics.median(values):.2f} | {max(values):.2f} |"
        )


if __name__ == "__main__":
    main()
