"""What one record holds over time, every change saved to the journal: its parts, when its video
came and went (its begin and its gaps, each with its cause), its last error, and at the end its one
final file.

Each gap keeps its cause, and the record's error is the last error its camera (or disk) gave: set
while the video is away, it stays when the video returns and after the end. So the control plane
learns why a record has a hole from any report after it, not only from a heartbeat that happened to
come during the outage. A gap that is no error of the record (the agent was down, a camera opened
again with full probing) says why on the gap only.

Each ffmpeg run is a part, and a run that got no video leaves nothing behind. The first part is
the record's file (`files.record_file`): it is hashed as it grows, and at stop it is renamed to the
final name, so a stop costs the same whatever the length. A later run of the default template
continues that file itself (`begin_in_place`: its part is a name in the journal, no file; no byte is
written twice); any other later run (a dead agent's ffmpeg still writing, another template) writes a
part file whose fragments are appended to the record's file. A template whose output is not
fragmented MP4 (or a camera whose codec changed) falls back to joining the parts at stop. Time that no part covers is a gap: from the end of the last
video (last growth of the part, or its mtime when ffmpeg exited by itself) to the start of the run
that brought video again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path

from agent.errors import Fmp4Error, JoinError, NoSpaceError
from agent.ffmpeg.probe import probe_duration
from agent.files.finalise import FinalFile, make_final_file
from agent.files.layout import RecordPaths, has_fragment
from agent.files.record_file import CodecChanged, InPlace, RecordFile
from agent.recording.journal import Gap, Journal, RecordRow
from shared.enums import GapReason, RecordStatus
from shared.heartbeat import clip_gap_detail
from shared.redact import redact_text

log = logging.getLogger(__name__)

AGENT_DOWN = "the agent was not running"  # the cause of a gap while the agent was down


class Timeline:
    def __init__(
        self, row: RecordRow, paths: RecordPaths, journal: Journal, picture_interval_s: float
    ) -> None:
        self.row = row
        self.paths = paths
        self._journal = journal
        # A time-lapse cannot miss less than one frame interval (that is just a fetch's latency).
        self._shortest_gap = 0.0 if row.spec.rtsp_url else picture_interval_s
        self.part: Path | None = None  # the part the current ffmpeg writes
        self.serving: Path | None = Path(row.parts[-1]) if row.parts else None  # the last part with video
        self.gap_start: float | None = None  # set while no video is being recorded after some was
        self.gap_reason = GapReason.CAMERA  # why: the camera, unless recording paused for space
        self.cause: str | None = None  # why no video is being recorded now; None while it comes
        self._gap_closed_by: str | None = None  # the part whose first video ended the last gap
        self.file: RecordFile | None = None  # the record's one file, once a part has video
        self._file_failed = False  # parts are joined at stop instead
        self._short_of_space = False  # a fragment waits for room in the record's file
        self._file_lock = asyncio.Lock()  # one worker thread at a time touches the file
        # Later parts whose ffmpeg writes the record's file itself: where each one's bytes begin.
        self._in_place: dict[str, int] = {}
        # Set when such an ffmpeg brought other codec parameters: it must end (its fragments are
        # not taken), and the next run writes a part of its own.
        self.in_place_refused = asyncio.Event()

    @property
    def current_path(self) -> Path:
        """The file to serve now: the part holding the latest video, or the final file."""
        current = self.serving or self.part  # before the first video: the part being connected
        if self.file is not None and self.file.path.exists():
            current = self.file.path  # all parts so far, appended to the first
        if self.row.status.active and current is not None:
            return current
        return Path(self.row.final_path)

    def resumed(self) -> None:
        """The agent was down since the last part was written: that time is a gap."""
        last = self.serving
        self.gap_start = last.stat().st_mtime if last is not None and last.exists() else self.row.begin_unix
        self.note_cause(self.cause or AGENT_DOWN)

    def new_part(self) -> Path:
        # Numbered after the last one: appended parts are removed, so the count is no guide.
        last = int(Path(self.row.parts[-1]).stem.rsplit("-", 1)[1]) if self.row.parts else 0
        part = self.paths.part(last + 1)
        part.parent.mkdir(parents=True, exist_ok=True)
        self.row.parts.append(str(part))
        self.save()
        self.part = part
        return part

    async def begin_in_place(self, part: Path) -> InPlace | None:
        """The record's file, ready for `part`'s ffmpeg to continue it itself (None: it cannot, and
        the part is a file of its own)."""
        if self.serving is None or self._file_failed or self.in_place_refused.is_set():
            return None
        await self.follow_file()  # the file as the last ffmpeg left it
        async with self._file_lock:
            if self.file is None or self._file_failed:
                return None
            try:
                start = await asyncio.to_thread(self.file.begin_in_place)
            except NoSpaceError:
                return None  # the last part's rest waits for room: this one is appended after it
            except (Fmp4Error, OSError) as exc:
                self._give_up_file(exc)
                return None
        if start is not None:
            self._in_place[str(part)] = start.offset
        return start

    def drop_part(self, part: Path, started: float) -> None:
        """A run that got no video: an outage must not leave hundreds of empty parts."""
        offset = self._in_place.pop(str(part), None)
        if offset is not None and self.file is not None and self.file.hashed <= offset:
            os.truncate(self.file.path, offset)  # whatever its ffmpeg began to write
        part.unlink(missing_ok=True)
        self.row.parts.remove(str(part))
        self.row.bases.pop(str(part), None)
        self.save()
        if self.gap_start is None:
            self.gap_start = started

    def on_video(self, part: Path, since: float) -> None:
        if self.row.parts == [str(part)] and self.gap_start is None:
            # The record's very first video: it begins when its first frame does, not when ffmpeg was
            # asked to connect, so that begin..end minus the gaps is what the file holds.
            self.row.begin_unix = since
        self.serving = part  # the record keeps its last error: it says why the video last stopped
        if self.gap_start is not None and since < self.gap_start and str(part) != self.row.parts[0]:
            # Began before the last part ended (an orphan's handover): no gap, and what both hold
            # goes into the record's file once.
            self.row.trims[str(part)] = self.gap_start - since
        if self.gap_start is not None:
            before = len(self.row.gaps)
            self.add_gap(self.gap_start, since, self.gap_reason)
            self.gap_start, self.gap_reason = None, GapReason.CAMERA
            self._gap_closed_by = str(part) if len(self.row.gaps) > before else None
        self.cause = None
        self.save()
        log.info("record %s: video arriving in %s", self.row.record_id, part.name)

    def refine_first_frame(self, part: Path, earlier: float) -> None:
        """A closer estimate of when this part's video began: it moves the record's begin (first
        part) or the end of the gap that this part closed."""
        if self.row.parts == [str(part)] and not self.row.gaps:
            self.row.begin_unix = earlier
        elif self.row.gaps and self._gap_closed_by == str(part):
            gap = self.row.gaps[-1]
            self.row.gaps[-1] = gap._replace(end=max(gap.start, earlier))
        else:
            return
        self.save()

    def add_gap(
        self, start: float, end: float, reason: GapReason = GapReason.CAMERA, detail: str | None = None
    ) -> None:
        """A time with no video; `detail` says why (by default the current cause)."""
        if end - start <= self._shortest_gap:
            return
        text = (self.cause or "") if detail is None else detail
        detail = clip_gap_detail(redact_text(text, self.row.spec.secrets))
        self.row.gaps.append(Gap(start, end, reason, detail))
        self.save()
        log.info("record %s: gap of %.1f s (%s)", self.row.record_id, end - start, detail or reason.value)

    def note_cause(self, cause: str) -> None:
        """Why no video is being recorded now, when that is no error of the record (the agent was
        down, it opens the camera again another way): said on the gap, not as the record's error."""
        self.cause = cause

    def set_error(self, error: str | None) -> None:
        """Why no video is being recorded now; None once the camera answers again, which leaves the
        record's error as it is."""
        if error is not None:
            error = redact_text(error, self.row.spec.secrets)  # its callers redact; this one is sure
        self.cause = error
        if error is not None and error != self.row.error:
            # A camera that keeps failing in the same words must not write the journal each time.
            self.row.error = error
            self.save()

    def mark_stopping(self) -> None:
        if self.row.status is RecordStatus.RECORDING:
            self.row.status, self.row.end_unix = RecordStatus.STOPPING, time.time()
            self.save()

    async def follow_file(self) -> None:
        """Hash what ffmpeg wrote since the last call; a new part's fragments go to the record's file."""
        if self._file_failed or self.serving is None:
            return
        async with self._file_lock:
            try:
                new_base = await asyncio.to_thread(self._follow_blocking)
            except NoSpaceError as exc:
                # The file is as it was before that fragment: it is taken in once there is room.
                self._note_no_space(exc)
                return
            except CodecChanged as exc:
                log.warning("record %s: %s; its next run writes a part of its own", self.row.record_id, exc)
                self.set_error(str(exc))
                self.in_place_refused.set()
                return
            except (Fmp4Error, OSError) as exc:
                self._give_up_file(exc)
                return
        self._short_of_space = False
        if new_base is not None:
            self.row.bases[new_base[0]] = new_base[1]
            self.save()

    def _follow_blocking(self, final: bool = False) -> tuple[str, int] | None:
        parts = [Path(p) for p in self.row.parts]
        if not final and self.serving in parts:
            # A part is taken in once its video has come: then its overlap with the last is known.
            parts = parts[: parts.index(self.serving) + 1]
        if self.file is None:
            self.file = RecordFile.recover(parts, self.row.bases, self.row.trims)
            return None
        latest = parts[-1]
        if latest in (self.file.path, self.file.source) or str(latest) in self._in_place:
            self.file.follow()
            return None
        self.file.append_from(latest, trim_s=self.row.trims.get(str(latest), 0.0))
        return str(latest), self.file.fragments

    def _note_no_space(self, exc: NoSpaceError) -> None:
        if not self._short_of_space:
            log.warning("record %s: %s; taken in when space returns", self.row.record_id, exc)
        self._short_of_space = True

    async def _drop_the_rest(self, exc: NoSpaceError) -> None:
        """At stop, with no room for what the last part holds beyond the record's file: a stop
        never waits for space, so that media becomes a gap (reason disk) and the file is sealed."""
        if self.file is None:
            raise exc  # no room even to take the parts in again after a restart: they are joined
        file, source = self.file, self.file.source
        # The part's last write is when its video ended; read before the part goes.
        end = source.stat().st_mtime if source is not None and source.exists() else time.time()
        dropped = await asyncio.to_thread(file.abandon_source)
        if dropped > 0:
            self.add_gap(end - dropped, end, GapReason.DISK, f"disk full at stop: {exc}")
        log.warning("record %s: %s; its last %.1f s are a gap", self.row.record_id, exc, dropped)

    def _give_up_file(self, exc: Exception) -> None:
        log.warning("record %s: parts will be joined at stop: %s", self.row.record_id, exc)
        self._file_failed, self.file = True, None

    async def finalise(self, ffmpeg_bin: str) -> None:
        """Seal the record's file (or join the parts) into the hashed final file; the record ends
        completed or failed."""
        async with self._file_lock:
            final = await self._seal(ffmpeg_bin)
            if final is None:
                final = await self._join(ffmpeg_bin)
        if final is None:
            return
        self.row.hash_md5, self.row.size_bytes, self.row.duration_s = final.md5, final.size, final.duration_s
        self._close_outage()
        self._end(RecordStatus.COMPLETED, self.row.error)  # its last error stays, as its gaps' causes
        # Only now that the journal names the final file may the parts go.
        shutil.rmtree(self.paths.parts_dir, ignore_errors=True)
        self.row.parts, self.row.bases, self.row.trims = [], {}, {}
        self.save()

    async def _seal(self, ffmpeg_bin: str) -> FinalFile | None:
        """The record's file, its last bytes hashed and renamed final: nothing joined, nothing re-read."""
        with_video = [Path(p) for p in self.row.parts if has_fragment(Path(p))]
        if self._file_failed or not with_video:
            return None
        try:
            # Recovers the file after an agent restart; takes in a part not followed yet.
            try:
                new_base = await asyncio.to_thread(self._follow_blocking, True)
            except NoSpaceError as exc:
                new_base = None
                await self._drop_the_rest(exc)
            except CodecChanged as exc:  # the last run's fragments are not taken: the file ends before
                new_base = None
                log.warning("record %s: %s; not taken into the file", self.row.record_id, exc)
            if new_base is not None:
                self.row.bases[new_base[0]] = new_base[1]
                self.save()
            assert self.file is not None
            sealed = await asyncio.to_thread(self.file.seal)
        except (Fmp4Error, OSError) as exc:
            self._give_up_file(exc)
            return None
        duration = sealed.duration_s
        if duration is None:
            duration = await probe_duration(self.file.path, ffmpeg_bin) or 0.0
        os.replace(self.file.path, self.paths.final)
        log.info(
            "record %s: sealed %s (%.2f s, %s bytes)",
            self.row.record_id,
            self.paths.final,
            duration,
            sealed.size,
        )
        return FinalFile(duration, sealed.md5, sealed.size)

    async def _join(self, ffmpeg_bin: str) -> FinalFile | None:
        """The parts joined by ffmpeg (a template that does not write fragmented MP4)."""
        try:
            final = await make_final_file([Path(p) for p in self.row.parts], self.paths.final, ffmpeg_bin)
        except (JoinError, OSError) as exc:  # the parts stay on disk for a human to look at
            self._end(RecordStatus.FAILED, f"could not make the final file: {exc}")
            return None
        if final is None:
            self._end(
                RecordStatus.FAILED, f"no video was received: {self.row.error or 'the camera never answered'}"
            )
            shutil.rmtree(self.paths.parts_dir, ignore_errors=True)
        return final

    def _close_outage(self) -> None:
        """Stopped while its video was away (camera down, disk full, the agent just back): the time
        from then to the stop is a gap too, so that begin..end minus the gaps is what the file holds.
        Not after a normal stop: the video came until then (no cause), whatever its last fragment's time."""
        end = self.row.end_unix
        if self.gap_start is None or self.cause is None or end is None or end <= self.gap_start:
            return
        self.add_gap(self.gap_start, end, self.gap_reason)
        self.gap_start = None

    def _end(self, status: RecordStatus, error: str | None) -> None:
        self.row.status, self.row.error = status, error
        self.row.end_unix = self.row.end_unix or time.time()
        self.serving = None
        self.save()
        log.info("record %s: %s%s", self.row.record_id, status.value, f" ({error})" if error else "")

    def save(self) -> None:
        self._journal.save(self.row)
