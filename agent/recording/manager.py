"""All records of this agent: starting and stopping them, what they look like now (`RecordInfo`),
and which files of theirs may be read or deleted. Owns the journal and one `Recording` per record.

File access is an allow-list: a location must be one this record produced (its current file, a part
that still exists, its final file), and the path it names must resolve inside the storage root.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import httpx
from pydantic import ConfigDict

from agent.cameras.spec import CameraSpec
from agent.errors import CapacityError, RecordBusyError, UnknownRecordError
from agent.ffmpeg.commands import record_command
from agent.ffmpeg.fast_open import FAST_OPEN
from agent.files.layout import RecordPaths, check_record_id
from agent.files.space import free_bytes, reserve_bytes
from agent.live.session_hub import SessionHub
from agent.metrics_registry import EVICTIONS
from agent.recording.attempt import RecorderConfig
from agent.recording.journal import Journal, RecordRow
from agent.recording.locations import Locations
from agent.recording.recorder import Recording
from agent.recording.recovery import recover
from agent.recording.retention import Candidate, Policy, Rule, choose
from agent.recording.served import CheckedFiles, ServedFile
from agent.recording.states import Phase
from shared.enums import RecordStatus
from shared.heartbeat import RecordReport, detail_runs

log = logging.getLogger(__name__)


class RecordInfo(RecordReport):
    """A record as the rest of the agent sees it, at one moment: the heartbeat's `RecordReport`
    (which is what the heartbeat sends of it) plus what only the agent needs."""

    model_config = ConfigDict(frozen=True)

    tag_name: str
    path: Path  # the file to serve now: the current part while recording, the final file when completed
    growing: bool  # ffmpeg is appending to `path` right now
    phase: Phase  # where the recording is now (for diagnosis; not stored)


class StartEntry(NamedTuple):
    """One record to start: what the start RPCs carry."""

    record_id: str
    tag_name: str
    spec: CameraSpec
    ffmpeg_cmd: str | None


class RecordManager:
    def __init__(
        self,
        storage_root: Path,
        agent_name: str,
        ffmpeg_bin: str,
        http: httpx.AsyncClient,
        *,
        stall_timeout_s: float = 10.0,
        max_backoff_s: float = 5.0,
        picture_interval_s: float = 1.0,
        min_free_bytes: int | None = None,
        retention_max_age_s: float | None = None,
        retention_max_bytes: int | None = None,
        capacity: int = 64,
        fast_open: Mapping[str, str] = FAST_OPEN,
        journal_key: bytes | None = None,
        sessions: SessionHub | None = None,
    ) -> None:
        """`fast_open`: how an RTSP camera is opened until ffmpeg says that lacked its codec
        parameters (`agent.ffmpeg.fast_open`); `journal_key`: seals the credentials the journal
        keeps (`agent.recording.journal.journal_key`); `sessions`: the camera sessions that
        recordings write while they run (the camera is then read once)."""
        self._root = Path(storage_root).absolute()
        self._agent = agent_name
        self._where = Locations(agent_name, self._root)
        self._root.mkdir(parents=True, exist_ok=True)
        self.reserve_bytes = reserve_bytes(self._root, min_free_bytes)
        self._policy = Policy(retention_max_age_s, retention_max_bytes, self.reserve_bytes)
        self._config = RecorderConfig(
            ffmpeg_bin,
            stall_timeout_s,
            max_backoff_s,
            picture_interval_s,
            self._root,
            self.reserve_bytes,
            MappingProxyType(dict(fast_open)),
            sessions,
        )
        self._http = http
        self._capacity = capacity
        self._journal: Journal | None = None
        self._journal_key = journal_key
        self._records: dict[str, Recording] = {}
        self._checked = CheckedFiles()

    async def open(self) -> None:
        """Load the journal; resume what was `recording`, finalise what was `stopping`."""
        self._journal = journal = Journal(self._root, self._journal_key)
        for row in journal.load_all():
            self._records[row.record_id] = await recover(row, journal, self._config, self._http)

    async def aclose(self) -> None:
        """Agent shutdown: stop every ffmpeg; records stay `recording` and the next open() resumes them."""
        await asyncio.gather(*(r.suspend() for r in self._records.values()))
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    async def start(
        self, record_id: str, tag_name: str, spec: CameraSpec, ffmpeg_cmd: str | None
    ) -> RecordInfo:
        """Start recording; the same id again returns the record as it is (a retried command)."""
        return self._info(self._begin(StartEntry(record_id, tag_name, spec, ffmpeg_cmd)))

    async def start_many(
        self, entries: Sequence[StartEntry], wait_s: float
    ) -> builtins.list[RecordInfo | Exception]:
        """Start every entry (each refused alone: capacity, a bad id or template), then wait at most
        `wait_s` until each one's ffmpeg has opened its camera, or its first attempt has ended: the
        answer of a group start then says what is really recording. The ffmpeg start in parallel."""
        begun: builtins.list[Recording | Exception] = []
        for entry in entries:
            try:
                begun.append(self._begin(entry))
            except (CapacityError, ValueError) as exc:
                begun.append(exc)
        waits = [asyncio.ensure_future(r.opened.wait()) for r in begun if isinstance(r, Recording)]
        if waits:
            _, late = await asyncio.wait(waits, timeout=wait_s)
            for wait in late:
                wait.cancel()
        return [r if isinstance(r, Exception) else self._info(r) for r in begun]

    def opened(self, record_id: str) -> bool:
        """Whether the record's ffmpeg has opened its camera (or its first attempt is over)."""
        return self._get(record_id).opened.is_set()

    def _begin(self, entry: StartEntry) -> Recording:
        record_id, tag_name, spec, ffmpeg_cmd = entry
        if record_id in self._records:
            return self._records[record_id]
        check_record_id(record_id)
        if self.active_count() >= self._capacity:
            raise CapacityError(f"agent {self._agent} already records {self._capacity} sources")
        paths = RecordPaths.of(self._root, tag_name, spec.source_id, record_id)
        if spec.rtsp_url:  # a bad template is the caller's error now, not a record that never records
            record_command(ffmpeg_cmd, spec.rtsp_url, str(paths.part(1)), self._config.ffmpeg_bin)
        row = RecordRow(
            record_id=record_id,
            tag_name=tag_name,
            spec=spec,
            ffmpeg_cmd=ffmpeg_cmd,
            status=RecordStatus.RECORDING,
            begin_unix=time.time(),
            final_path=str(paths.final),
        )
        self._opened().save(row)
        recording = Recording(row, paths, self._config, self._opened(), self._http)
        self._records[record_id] = recording
        recording.start()
        log.info("record %s: started for source %s under tag %r", record_id, spec.source_id, tag_name)
        return recording

    async def stop(self, record_id: str, wait: bool = True) -> RecordInfo:
        """Stop recording; `wait`: return once the final file is verified and hashed."""
        recording = self._get(record_id)
        recording.request_stop()
        if wait:
            await recording.wait_done()
        return self._info(recording)

    def get(self, record_id: str) -> RecordInfo:
        return self._info(self._get(record_id))

    def list(self, changed_since_unix: float = 0.0) -> builtins.list[RecordInfo]:
        """Records whose state changed strictly after `changed_since_unix` (all of them for 0)."""
        return [self._info(r) for r in self._records.values() if r.row.updated_unix > changed_since_unix]

    def active_count(self) -> int:
        return sum(1 for r in self._records.values() if r.row.status.active)

    async def enforce_retention(
        self, protected_tags: set[str], now: float | None = None
    ) -> builtins.list[tuple[str, Rule]]:
        """Delete the finished records the retention rules evict (`retention`); each becomes
        `deleted` with the rule as its error, which the heartbeat reports."""
        candidates = [
            Candidate(
                r.row.record_id,
                r.row.tag_name,
                r.row.status,
                r.row.end_unix or r.row.begin_unix,
                r.row.size_bytes or 0,
            )
            for r in self._records.values()
        ]
        chosen = choose(
            candidates,
            self._policy,
            time.time() if now is None else now,
            free_bytes(self._root),
            protected_tags,
        )
        for record_id, rule in chosen:
            recording = self._records[record_id]
            self._checked.drop(record_id)
            # A multi-GiB unlink can take a while: off the event loop.
            await asyncio.to_thread(self._remove_files, recording)
            recording.row.status, recording.row.error = RecordStatus.DELETED, f"evicted by retention: {rule}"
            self._opened().save(recording.row)
            EVICTIONS.labels(rule).inc()
            log.warning(
                "record %s of tag %r: evicted by retention (%s), %s bytes freed",
                record_id,
                recording.row.tag_name,
                rule,
                recording.row.size_bytes,
            )
        return chosen

    def _remove_files(self, recording: Recording) -> None:
        final = Path(recording.row.final_path)
        if final.is_file() and final.resolve().is_relative_to(self._root.resolve()):
            final.unlink()
        shutil.rmtree(recording.paths.parts_dir, ignore_errors=True)

    def paused_count(self) -> int:
        """Records paused because the disk is below its reserve."""
        return sum(1 for r in self._records.values() if r.phase is Phase.PAUSED)

    def receiving_video(self, source_id: int) -> bool:
        """A camera whose video is arriving in a recording right now is online: no probe needed."""
        return any(r.row.source_id == source_id and r.growing for r in self._records.values())

    def recording(self, record_id: str) -> Recording:
        """The live object behind a record (tests use it to find ffmpeg's pid)."""
        return self._get(record_id)

    def resolve_file(self, record_id: str, location: str) -> ServedFile:
        """The existing file that `location` of the record names; else FileAccessError."""
        recording = self._get(record_id)
        completed = recording.row.status is RecordStatus.COMPLETED
        served = self._checked.get(record_id, location) if completed else None
        if served is not None:
            return served
        path = self._where.checked_path(recording, location)
        current = recording.current_path
        growing = recording.growing and path == current.resolve()
        final = completed and bool(recording.row.hash_md5) and location in self._where.names(current)
        served = ServedFile(path, growing, recording.row.hash_md5, final and not growing)
        if completed:
            self._checked.keep(record_id, location, served)
        return served

    async def delete_file(self, record_id: str, location: str) -> RecordInfo:
        """Delete the record's file at `location`; the record becomes `deleted`."""
        recording = self._get(record_id)
        if recording.row.status.active:
            raise RecordBusyError(f"record {record_id} is {recording.row.status.value}")
        self._checked.drop(record_id)
        path = self._where.own_path(recording, location)
        if path.exists() or path.is_symlink():
            self._where.inside_root(path)
            path.unlink()  # the name itself: a link inside the root is removed, not its target
        shutil.rmtree(recording.paths.parts_dir, ignore_errors=True)
        recording.row.status = RecordStatus.DELETED
        self._opened().save(recording.row)
        log.info("record %s: file %s deleted", record_id, path)
        return self._info(recording)

    # -- internals ---------------------------------------------------------------------------------

    def _get(self, record_id: str) -> Recording:
        try:
            return self._records[record_id]
        except KeyError:
            raise UnknownRecordError(record_id) from None

    def _opened(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("RecordManager.open() has not been called (or aclose() has)")
        return self._journal

    def _info(self, recording: Recording) -> RecordInfo:
        row, path = recording.row, recording.current_path
        return RecordInfo(
            record_id=row.record_id,
            tag_name=row.tag_name,
            source_id=row.source_id,
            status=row.status,
            begin_unix=row.begin_unix,
            end_unix=row.end_unix,
            location=self._where.names(path)[0],
            path=path,
            growing=recording.growing,
            hash_md5=row.hash_md5,
            size_bytes=row.size_bytes,
            duration_s=row.duration_s,
            error=row.error,
            gaps=[(gap.start, gap.end, gap.reason) for gap in row.gaps],
            gap_details=detail_runs([gap.detail for gap in row.gaps]),
            updated_unix=row.updated_unix,
            phase=recording.phase,
        )
