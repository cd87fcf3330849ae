"""What a restarted agent does with each record its journal holds: resume what was recording (taking
over from the ffmpeg the dead agent left running, make before break: agent.recording.orphans),
finalise what was stopping, clear what a finished record left behind.

Parts whose ffmpeg got no video before the agent died hold nothing to keep and go; when a single part
remains, when its video began is settled exactly from the finished file."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
from pathlib import Path

import httpx

from agent.ffmpeg.probe import probe_duration
from agent.files.layout import RecordPaths, has_fragment
from agent.recording.attempt import RecorderConfig
from agent.recording.journal import Journal, RecordRow
from agent.recording.orphans import Handover, stop_pids, writers_of
from agent.recording.recorder import Recording
from shared.enums import RecordStatus

log = logging.getLogger(__name__)


async def recover(
    row: RecordRow, journal: Journal, config: RecorderConfig, http: httpx.AsyncClient
) -> Recording:
    """The record's `Recording`, started again, finalising, or done, as its journal row says."""
    paths = RecordPaths.for_final(Path(row.final_path))
    resumes = row.status in (RecordStatus.RECORDING, RecordStatus.PENDING)
    # ffmpeg outlives a killed agent. A record that goes on keeps it recording until the new ffmpeg
    # has opened the camera (make before break); any other lets it finish now.
    orphans = writers_of([Path(p) for p in row.parts]) if row.status.active else []
    if orphans and not resumes:
        await stop_pids(orphans)
    if row.status.active and not (orphans and resumes):
        await _take_in_parts(row, list(row.parts), journal, config.ffmpeg_bin)
    recording = Recording(row, paths, config, journal, http)
    if resumes:
        row.status = RecordStatus.RECORDING
        journal.save(row)
        log.info("record %s: resuming after an agent restart", row.record_id)
        handover = None
        if orphans:
            log.warning("record %s: ffmpeg %s of the previous agent records on", row.record_id, orphans)
            took_over = functools.partial(_took_over, recording, list(row.parts), journal, config.ffmpeg_bin)
            handover = Handover(orphans, took_over)
        recording.start(resume=True, handover=handover)
    elif row.status is RecordStatus.STOPPING:
        log.info("record %s: finalising after an agent restart", row.record_id)
        recording.finalise()
    elif paths.parts_dir.exists():  # the agent stopped between the final file and the clean-up
        shutil.rmtree(paths.parts_dir, ignore_errors=True)
    return recording


async def _take_in_parts(row: RecordRow, parts: list[str], journal: Journal, ffmpeg_bin: str) -> list[str]:
    """What the previous agent's ffmpegs wrote in `parts`, now that they have stopped: the parts kept
    (those whose ffmpeg got no video are removed)."""
    for part in [p for p in parts if not has_fragment(Path(p))]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)  # one unlink at start-up
        row.parts.remove(part)
    kept = [p for p in parts if p in row.parts]
    if len(kept) == 1 and not row.gaps:
        await _settle_begin(row, Path(kept[0]), journal, ffmpeg_bin)
    return kept


async def _took_over(recording: Recording, old_parts: list[str], journal: Journal, ffmpeg_bin: str) -> None:
    """The orphans have stopped and the new ffmpeg has opened the camera: the old parts are final, and
    the gap (if any) runs from the last one's last write to the new video."""
    kept = await _take_in_parts(recording.row, old_parts, journal, ffmpeg_bin)
    recording.timeline.serving = Path(kept[-1]) if kept else None
    recording.timeline.resumed()
    journal.save(recording.row)


async def _settle_begin(row: RecordRow, part: Path, journal: Journal, ffmpeg_bin: str) -> None:
    """When the only part is finished (its ffmpeg stopped), when its video began is exact: its last
    write minus the media it holds. The agent may have died before it saw the video come."""
    duration = await probe_duration(part, ffmpeg_bin)
    if duration is not None:
        row.begin_unix = part.stat().st_mtime - duration  # noqa: ASYNC240 - one stat at start-up
        journal.save(row)
