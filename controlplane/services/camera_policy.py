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


def _refusal(address: IpAddress, settings: Settings) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
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
