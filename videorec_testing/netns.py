"""A network namespace for one agent, to cut it off from the control plane but not from its camera.

    with agent_namespace() as ns:
        start_agent(..., prefix=ns.exec_prefix, VIDEOREC_AGENT_GRPC_HOST=ns.agent_ip, ...)
        camera on ns.camera_host_ip, control plane on 0.0.0.0, the agent dials ns.cp_host_ip
        ns.cut()      # the control-plane link goes down; the camera link stays up
        ns.restore()

Two veth pairs join the namespace to the host: one carries the agent's traffic with the control plane
(heartbeats one way, gRPC the other), the other its camera's RTSP. Taking the first pair down is a
partition: the agent and its ffmpeg keep running and recording, and neither side can reach
the other. Needs root (CAP_NET_ADMIN) and `ip` (iproute2): without them it skips saying why, or fails under
CI=true; as root, a namespace that cannot be made is a failure.
The namespace and both pairs are removed however the block ends, with any process still inside.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass
class AgentNamespace:
    name: str
    cp_link: str  # host end of the control-plane pair
    camera_link: str  # host end of the camera pair
    cp_host_ip: str  # the host on the control-plane pair: where the agent finds the control plane
    agent_ip: str  # the agent on the control-plane pair: where the control plane dials it
    camera_host_ip: str  # the host on the camera pair: where the camera listens

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    # The namespace's end goes down: the host keeps its route to the agent (now a link without carrier),
    # so what the control plane sends is lost as on a real partition, not answered by some other route.
    def cut(self) -> None:
        _ip("link", "set", "cp0", "down", netns=self.name)

    def restore(self) -> None:
        _ip("link", "set", "cp0", "up", netns=self.name)

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False)
        return [int(p) for p in out.stdout.split()]


def _ip(*args: str, netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def _free_subnets(seed: int) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """Two /30s in 10.231-232.0.0/16 that no route of this host uses yet."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    used = set()
    for line in routes.splitlines():
        with contextlib.suppress(ValueError):
            used.add(ipaddress.ip_network(line.split()[0 if line.split()[0] != "local" else 1], strict=False))
    for offset in range(256):
        n = (seed + offset) % 16384
        pair = (
            ipaddress.ip_network(f"10.231.{n // 64}.{(n % 64) * 4}/30"),
            ipaddress.ip_network(f"10.232.{n // 64}.{(n % 64) * 4}/30"),
        )
        if not any(net.overlaps(u) for net in pair for u in used):
            return pair
    raise RuntimeError("no free /30 in 10.231.0.0/16")


@contextlib.contextmanager
def agent_namespace() -> Iterator[AgentNamespace]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        reason = (
            "the partition test needs root and iproute2's `ip` to make a network namespace "
            f"(euid {os.geteuid()}, ip {shutil.which('ip')})"
        )
        # Like the other tests that need root: a developer's machine skips saying why, CI fails.
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true: this test must run")
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    cp_net, cam_net = _free_subnets(os.getpid())
    cp_host, cp_agent = (str(a) for a in cp_net.hosts())
    cam_host, cam_agent = (str(a) for a in cam_net.hosts())
    ns = AgentNamespace(f"videorec-{tag}", f"vrc{tag}", f"vrm{tag}", cp_host, cp_agent, cam_host)
    try:
        _ip("netns", "add", ns.name)
    except RuntimeError as exc:
        pytest.fail(f"cannot create a network namespace here (the partition test needs one): {exc}")
    try:
        _ip("link", "set", "lo", "up", netns=ns.name)
        for host_end, inside, net, host_ip, agent_ip in (
            (ns.cp_link, "cp0", cp_net, cp_host, cp_agent),
            (ns.camera_link, "cam0", cam_net, cam_host, cam_agent),
        ):
            _ip("link", "add", host_end, "type", "veth", "peer", "name", f"{inside}-{tag}")
            _ip("link", "set", f"{inside}-{tag}", "netns", ns.name)
            _ip("link", "set", f"{inside}-{tag}", "name", inside, netns=ns.name)
            _ip("addr", "add", f"{host_ip}/{net.prefixlen}", "dev", host_end)
            _ip("link", "set", host_end, "up")
            _ip("addr", "add", f"{agent_ip}/{net.prefixlen}", "dev", inside, netns=ns.name)
            _ip("link", "set", inside, "up", netns=ns.name)
        yield ns
    finally:
        for pid in ns.pids():  # only what this test started inside it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(RuntimeError):
            _ip("netns", "del", ns.name)  # takes the inside ends, and so both pairs, with it
        for link in (ns.cp_link, ns.camera_link):
            with contextlib.suppress(RuntimeError):
                _ip("link", "del", link)
