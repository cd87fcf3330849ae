"""Recording health as Prometheus metrics: what an operator pages on (a stalled recording, a camera
down, a disk below its reserve).

Most series are read from the agent's state when scraped (`AgentCollector`), so the recording path
needs no hooks beyond the finalise timer. Counters that must only grow (bytes, gaps, restarts) are
accumulated here from what each scrape sees, including the last bytes of records that ended since.
Labels are source ids and rule names only: never a URL, a camera address or a credential."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agent.cameras.prober import Prober
from agent.recording.manager import RecordManager
from agent.settings import AgentSettings


@dataclass
class _Seen:
    """What the last scrape saw of one record, to turn its growth into counter increments."""

    source: str
    size: int = 0
    gaps: int = 0
    attempts: int = 0


@dataclass
class _Totals:
    bytes_written: dict[str, float] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, float] = field(default_factory=dict)

    def add(self, which: dict[str, float], source: str, amount: float) -> None:
        if amount > 0:
            which[source] = which.get(source, 0.0) + amount


class AgentCollector(Collector):
    """Registered on REGISTRY while an agent runs (agent.main)."""

    def __init__(
        self,
        settings: AgentSettings,
        records: RecordManager,
        prober: Prober,
        reserve_bytes: Callable[[], int],
    ) -> None:
        self._settings = settings
        self._records = records
        self._prober = prober
        self._reserve = reserve_bytes
        self._seen: dict[str, _Seen] = {}
        self._totals = _Totals()

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        now = time.time()
        up = GaugeMetricFamily(
            "videorec_agent_recording_up",
            "1 while a recording of the source is receiving video, 0 while it is active but not",
            labels=["source"],
        )
        age = GaugeMetricFamily(
            "videorec_agent_last_fragment_age_seconds",
            "Seconds since the recording of the source last wrote to its file",
            labels=["source"],
        )
        for info in self._records.list():
            source = str(info.source_id)
            recording = self._records.recording(info.record_id)
            size = info.size_bytes or 0
            if info.status.active:
                up.add_metric([source], 1.0 if info.growing else 0.0)
                try:
                    stat = info.path.stat()
                    size, written = max(size, stat.st_size), stat.st_mtime
                except OSError:
                    written = info.begin_unix or now
                age.add_metric([source], max(0.0, now - written))
            self._count(info.record_id, source, size, len(info.gaps), getattr(recording, "attempts", 0))
        yield up
        yield age
        yield from self._counters()
        camera = GaugeMetricFamily(
            "videorec_agent_camera_up", "Last probe of each assigned camera (1 answered)", labels=["source"]
        )
        for probe in self._prober.results():
            camera.add_metric([str(probe.source_id)], 1.0 if probe.online else 0.0)
        yield camera
        usage = shutil.disk_usage(self._settings.storage_root)
        yield GaugeMetricFamily("videorec_agent_disk_free_bytes", "Free bytes of the storage", usage.free)
        yield GaugeMetricFamily("videorec_agent_disk_total_bytes", "Size of the storage", usage.total)
        yield GaugeMetricFamily(
            "videorec_agent_disk_reserve_bytes",
            "Free space the agent keeps (retention and pausing)",
            self._reserve(),
        )

    def _count(self, record_id: str, source: str, size: int, gaps: int, attempts: int) -> None:
        seen = self._seen.setdefault(record_id, _Seen(source))
        self._totals.add(self._totals.bytes_written, source, size - seen.size)
        self._totals.add(self._totals.gaps, source, gaps - seen.gaps)
        # The first attempt is the start, not a restart.
        self._totals.add(self._totals.restarts, source, max(attempts - 1, 0) - max(seen.attempts - 1, 0))
        seen.size, seen.gaps, seen.attempts = (
            max(size, seen.size),
            max(gaps, seen.gaps),
            max(attempts, seen.attempts),
        )

    def _counters(self) -> Iterable[CounterMetricFamily]:
        for name, text, values in (
            ("videorec_agent_bytes_written", "Bytes recorded for each source", self._totals.bytes_written),
            (
                "videorec_agent_gaps",
                "Gaps (camera lost, stalled, disk full) in each source's records",
                self._totals.gaps,
            ),
            (
                "videorec_agent_ffmpeg_restarts",
                "ffmpeg restarts of each source's recordings",
                self._totals.restarts,
            ),
        ):
            family = CounterMetricFamily(name, text, labels=["source"])
            for source, value in sorted(values.items()):
                family.add_metric([source], value)
            yield family
