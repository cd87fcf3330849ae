"""What the running agent holds (its settings and the long-lived helpers its handlers share) and the
facts it reports about itself, in the one shape the heartbeat carries.

It sits above recording, live and cameras and below the three that share it (rpc, ops, control),
which therefore need not import each other."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import httpx

from agent import __version__
from agent.cameras.gate import SnapshotGate
from agent.cameras.prober import Prober
from agent.files.copies.store import CopyStore
from agent.live import LiveHub
from agent.recording.manager import RecordManager
from agent.settings import AgentSettings
from shared.heartbeat import HeartbeatIn


@dataclass
class RuntimeState:
    settings: AgentSettings
    http: httpx.AsyncClient
    hub: LiveHub
    prober: Prober
    records: RecordManager
    copies: CopyStore  # copies of other agents' records received by sync
    snapshots: SnapshotGate = field(default_factory=lambda: SnapshotGate(4))
    address: str = ""
    http_address: str = ""  # host:port of the HTTP port, where signed URLs of its files point

    def facts(self) -> HeartbeatIn:
        """Who the agent is and how loaded it is now (GetInfo answers the same facts)."""
        usage = shutil.disk_usage(self.settings.storage_root)
        return HeartbeatIn(
            name=self.settings.name,
            address=self.address,
            http_address=self.http_address or None,
            public_url=self.settings.public_url,
            version=__version__,
            site=self.settings.site,
            capacity=self.settings.capacity,
            active_records=self.records.active_count(),
            disk_free_bytes=usage.free,
            disk_total_bytes=usage.total,
            disk_reserve_bytes=self.records.reserve_bytes,
            paused_records=self.records.paused_count(),
        )
