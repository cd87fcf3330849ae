"""Which addresses a camera URL may reach: the control plane's policy (VIDEOREC_CAMERA_*), checked
by the control plane on the addresses it resolves, and sent to its agents, which check the address
a name resolves to next to the cameras before dialling it (names the control plane cannot resolve,
`*.nip.io` and the like, are theirs to check).

Loopback and link-local addresses are this machine's own services and cloud metadata
(169.254.169.254); IPv6 forms that carry an IPv4 address a gateway or the kernel dials are checked as
that IPv4 address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from pydantic import BaseModel, Field, IPvAnyNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 2.0

# NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48) and IPv4-compatible (::a.b.c.d, deprecated
# but still routed by some stacks); 6to4 (2002:a.b.c.d::/48) and IPv4-mapped have their own accessors.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.IPv6Network("::/96")


class CameraNetworks(BaseModel):
    """The policy, as the control plane's settings have it (an agent not told yet allows all, as
    agents always did)."""

    allow_local: bool = Field(True, description="loopback and link-local addresses may be cameras")
    deny: list[IPvAnyNetwork] = Field(default_factory=list, description="networks no camera may be in")
    allow: list[IPvAnyNetwork] = Field(default_factory=list, description="if set, cameras must be in these")


def reached(address: IpAddress) -> IpAddress:
    """The IPv4 address an IPv6 one reaches through a translation, or the address itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in _NAT64):
        return embedded
    if address in _COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves
        return embedded
    return address


def refusal(address: IpAddress, networks: CameraNetworks) -> str | None:
    """Why a camera may not be at `address` (None: it may)."""
    target = reached(address)
    if target != address and any(address in net for net in networks.deny):
        return "a network that VIDEOREC_CAMERA_NETWORKS_DENY refuses"  # it may name the IPv6 prefix
    local = target.is_loopback or target.is_link_local or target.is_unspecified
    if local and not networks.allow_local:
        return "a loopback or link-local address (VIDEOREC_CAMERA_ALLOW_LOCAL allows them)"
    if any(target in net for net in networks.deny):
        return "a network that VIDEOREC_CAMERA_NETWORKS_DENY refuses"
    if networks.allow and not any(target in net for net in networks.allow):
        return "an address outside VIDEOREC_CAMERA_NETWORKS_ALLOW"
    return None


async def addresses(host: str) -> list[IpAddress]:
    """The addresses `host` names; empty when it does not resolve here (the agent, next to the
    cameras, may resolve names the control plane cannot, so that alone is no reason to refuse)."""
    # `localhost.` is `localhost`: the root's dot changes no name.
    host = host.lower().rstrip(".")
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if host == "localhost" or host.endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
