"""The check before the agent dials a camera: the address its name resolves to here, next to the
cameras, against the control plane's camera networks (the control plane checks what it can resolve;
names only the agent's resolver knows, or that resolve differently here, are checked only here).

The policy arrives with every heartbeat answer; until the first one (an agent resuming its records
while the control plane is away) nothing is refused, as before agents were told. Checked before
every dial, not once per source, because a name may resolve elsewhere by then."""

from __future__ import annotations

from urllib.parse import urlsplit

from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, CameraFailure
from shared.camera_networks import CameraNetworks, addresses, refusal

_networks = CameraNetworks()


def use(networks: CameraNetworks) -> None:
    """The policy the control plane sent (one per agent process)."""
    global _networks
    _networks = networks


async def check_dial(spec: CameraSpec) -> None:
    """Raise CameraError (INVALID) when a URL of `spec` resolves to a refused address."""
    networks = _networks
    for url in (spec.rtsp_url, spec.picture_url):
        host = urlsplit(url).hostname if url else None
        if not host:
            continue
        for address in await addresses(host):
            reason = refusal(address, networks)
            if reason is not None:
                # What answers there is never said, nor the address: the detail reaches API users.
                raise CameraError(spec.source_id, f"its address is {reason}", CameraFailure.INVALID)
