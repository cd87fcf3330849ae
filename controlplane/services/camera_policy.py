"""Which networks camera URLs may point at.

The agent fetches whatever a picture URL names and the control plane relays what came back, so a
camera URL is a way to make the service reach inside its own network: the control plane's own
port, a database, a cloud metadata endpoint (169.254.169.254). Loopback and link-local addresses
are refused unless the setting allows them (local mode and the tests' cameras do), then the
configured deny and allow networks apply. Checked when a source is written and again before a
picture is fetched, because a name may resolve elsewhere by then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from controlplane.settings import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 2.0


async def _addresses(host: str) -> list[IpAddress]:
    """The addresses `host` names; empty when it does not resolve here (the agent, next to the
    cameras, may resolve names this host cannot, so that alone is no reason to refuse)."""
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


# IPv6 forms that carry an IPv4 address a gateway or the kernel dials: NAT64 (64:ff9b::/96, and the
# local-use 64:ff9b:1::/48), IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks)
# and 6to4 (2002:a.b.c.d::/48). Each is checked as the IPv4 address it reaches.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _reached(address: IpAddress) -> IpAddress:
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


def _refusal(address: IpAddress, settings: Settings) -> str | None:
    reached = _reached(address)
    if reached != address and any(address in net for net in settings.camera_networks_deny):
        return "a network that VIDEOREC_CAMERA_NETWORKS_DENY refuses"  # it may name the IPv6 prefix
    return _refusal_of(reached, settings)


def _refusal_of(address: IpAddress, settings: Settings) -> str | None:
    local = address.is_loopback or address.is_link_local or address.is_unspecified
    if local and not settings.camera_allow_local:
        return "a loopback or link-local address (VIDEOREC_CAMERA_ALLOW_LOCAL allows them)"
    if any(address in net for net in settings.camera_networks_deny):
        return "a network that VIDEOREC_CAMERA_NETWORKS_DENY refuses"
    allow = settings.camera_networks_allow
    if allow and not any(address in net for net in allow):
        return "an address outside VIDEOREC_CAMERA_NETWORKS_ALLOW"
    return None


async def refusal(uri: str | None, settings: Settings) -> str | None:
    """Why a camera URL may not be used (None: it may). Never says anything about what answers there."""
    host = urlsplit(uri).hostname if uri else None
    if not host:
        return None
    for address in await _addresses(host):
        reason = _refusal(address, settings)
        if reason is not None:
            return f"points at {reason}"
    return None
