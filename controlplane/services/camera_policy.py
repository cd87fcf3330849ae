"""Which networks camera URLs may point at.

The agent fetches whatever a picture URL names and the control plane relays what came back, so a
camera URL is a way to make the service reach inside its own network: the control plane's own
port, a database, a cloud metadata endpoint (169.254.169.254). Loopback and link-local addresses
are refused unless the setting allows them (local mode and the tests' cameras do), then the
configured deny and allow networks apply. Checked when a source is written and again before a
picture is fetched, because a name may resolve elsewhere by then.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from controlplane.settings import Settings
from shared.camera_networks import CameraNetworks, IpAddress, addresses
from shared.camera_networks import refusal as address_refusal


def networks_of(settings: Settings) -> CameraNetworks:
    """The policy as agents are told it (they check what names resolve to next to the cameras)."""
    return CameraNetworks(
        allow_local=settings.camera_allow_local,
        deny=list(settings.camera_networks_deny),
        allow=list(settings.camera_networks_allow),
    )


def _refusal(address: IpAddress, settings: Settings) -> str | None:
    return address_refusal(address, networks_of(settings))


async def refusal(uri: str | None, settings: Settings) -> str | None:
    """Why a camera URL may not be used (None: it may). Never says anything about what answers there."""
    host = urlsplit(uri).hostname if uri else None
    if not host:
        return None
    for address in await addresses(host):
        reason = _refusal(address, settings)
        if reason is not None:
            return f"points at {reason}"
    return None
