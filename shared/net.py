"""Is a host name this machine's loopback? One answer for every check that depends on it (where the
API may listen without a token, which Host headers local mode answers, which sync peers may use
plain http)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """A bare host (no port, no brackets): `localhost`, 127.0.0.0/8 or ::1."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
