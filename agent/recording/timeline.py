"""What one record holds over time, every change saved to the journal: its parts, when its video
came and went (its begin and its gaps), its last error, and at the end its one final file.

Each ffmpeg run writes its own part, so nothing ffmpeg wrote is ever overwritten, and a run that
got no video leaves no part behind. Time that no part covers is a gap: from the end of the last
video (last growth of the part, or its mtime when ffmpeg exited by itself) to the start of the run
that brought video again.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from agent.files.finalise import JoinError, make_final_file
from agent.files.layout import RecordPaths
from agent.recording.journal import Journal, RecordRow
from shared.enums import RecordStatus

log = logging.getLogger(__name__)


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
        self._gap_closed_by: str | None = None  # the part whose first video ended the last gap

    @property
    def current_path(self) -> Path:
        """The file to serve now: the part holding the latest video, or the final file."""
        current = self.serving or self.part  # before the first video: the part being connected
        if self.row.status.active and current is not None:
            return current
        return Path(self.row.final_path)

    def resumed(self) -> None:
        """The agent was down since the last part was written: that time is a gap."""
        last = self.serving
        self.gap_start = last.stat().st_mtime if last is not None and last.exists() else self.row.begin_unix

    def new_part(self) -> Path:
        part = self.paths.part(len(self.row.parts) + 1)
        part.parent.mkdir(parents=True, exist_ok=True)
        self.row.parts.append(str(part))
        self.save()
        self.part = part
        return part

    def drop_part(self, part: Path, started: float) -> None:
        """A run that got no video: an outage must not leave hundreds of empty parts."""
        part.unlink(missing_ok=True)
        self.row.parts.remove(str(part))
        self.save()
        if self.gap_start is None:
            self.gap_start = started

    def on_video(self, part: Path, since: float) -> None:
        if self.row.parts == [str(part)] and self.gap_start is None:
            # The record's very first video: it begins when its first frame does, not when ffmpeg was
            # asked to connect, so that begin..end minus the gaps is what the file holds.
            self.row.begin_unix = since
        self.serving, self.row.error = part, None
        if self.gap_start is not None:
            before = len(self.row.gaps)
            self.add_gap(self.gap_start, since)
            self.gap_start = None
            self._gap_closed_by = str(part) if len(self.row.gaps) > before else None
        self.save()
        log.info("record %s: video arriving in %s", self.row.record_id, part.name)

    def refine_first_frame(self, part: Path, earlier: float) -> None:
        """A closer estimate of when this part's video began: it moves the record's begin (first
        part) or the end of the gap that this part closed."""
        if self.row.parts == [str(part)] and not self.row.gaps:
            self.row.begin_unix = earlier
        elif self.row.gaps and self._gap_closed_by == str(part):
            start, _ = self.row.gaps[-1]
            self.row.gaps[-1] = (start, max(start, earlier))
        else:
            return
        self.save()

    def add_gap(self, start: float, end: float) -> None:
        if end - start > self._shortest_gap:
            self.row.gaps.append((start, end))
            self.save()
            log.info("record %s: gap of %.1f s", self.row.record_id, end - start)

    def set_error(self, error: str | None) -> None:
        if error != self.row.error:  # a camera that keeps failing must not write the journal each time
            self.row.error = error
            self.save()

    def mark_stopping(self) -> None:
        if self.row.status is RecordStatus.RECORDING:
            self.row.status, self.row.end_unix = RecordStatus.STOPPING, time.time()
            self.save()

    async def finalise(self, ffmpeg_bin: str) -> None:
        """Join the parts into the verified, hashed final file; the record ends completed or failed."""
        try:
            final = await make_final_file([Path(p) for p in self.row.parts], self.paths.final, ffmpeg_bin)
        except (JoinError, OSError) as exc:  # the parts stay on disk for a human to look at
            self._end(RecordStatus.FAILED, f"could not make the final file: {exc}")
            return
        if final is None:
            self._end(
                RecordStatus.FAILED, f"no video was received: {self.row.error or 'the camera never answered'}"
            )
            shutil.rmtree(self.paths.parts_dir, ignore_errors=True)
            return
        self.row.hash_md5, self.row.size_bytes, self.row.duration_s = final.md5, final.size, final.duration_s
        self._end(RecordStatus.COMPLETED, None)
        # Only now that the journal names a verified final file may the parts go.
        shutil.rmtree(self.paths.parts_dir, ignore_errors=True)
        self.row.parts = []
        self.save()

    def _end(self, status: RecordStatus, error: str | None) -> None:
        self.row.status, self.row.error = status, error
        self.row.end_unix = self.row.end_unix or time.time()
        self.serving = None
        self.save()
        log.info("record %s: %s%s", self.row.record_id, status.value, f" ({error})" if error else "")

    def save(self) -> None:
        self._journal.save(self.row)
