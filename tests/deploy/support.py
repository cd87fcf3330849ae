"""Podman and tool helpers for the deployment tests: skip where a tool is missing, never in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BUILD_SCRIPT = DEPLOY / "image" / "build.sh"
STANDINS = Path(__file__).parent / "standins"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip with `reason` where the machine lacks something; in CI that is a failure instead."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run; `make deploy-deps` installs the tools)")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed (make deploy-deps installs it)")
    assert path is not None
    return path


def podman_env() -> dict[str, str]:
    """The environment podman runs with: the engine settings build.sh writes (cgroupfs, runc)."""
    env = dict(os.environ)
    conf = ROOT / "build" / "podman" / "containers.conf"
    if conf.exists():  # before the first build, podman's own defaults
        env.setdefault("CONTAINERS_CONF", str(conf))
    return env


def podman(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run podman; secrets reach it through `env` and `-e NAME` (never on the command line)."""
    result = subprocess.run(
        ["podman", *args],
        env={**podman_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def process_tree(pid: int) -> Sequence[tuple[int, int, str]]:
    """(pid, lowest of its uids, command name) of `pid` and every descendant, read from the host's /proc."""
    found: list[tuple[int, int, str]] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        proc = Path(f"/proc/{current}")
        try:
            status = (proc / "status").read_text()
            children = [
                int(c) for task in (proc / "task").iterdir() for c in (task / "children").read_text().split()
            ]
        except FileNotFoundError:
            continue  # exited meanwhile
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uid = min(int(u) for u in uid_line.split()[1:5])  # real, effective, saved, filesystem
        found.append((current, uid, (proc / "comm").read_text().strip()))
        todo.extend(children)
    return found
