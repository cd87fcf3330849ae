"""Helpers of the recorder tests: a RecordManager on a temporary root, polling, file checks."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from agent.cameras.spec import CameraSpec
from agent.ffmpeg.fast_open import FAST_OPEN
from agent.live.session import SessionSettings
from agent.live.session_hub import SessionHub
from agent.recording.manager import RecordInfo, RecordManager
from agent.recording.states import Phase
from videorec_testing.media import ffprobe_json
from videorec_testing.wait import await_until

AGENT = "agent-t"


@asynccontextmanager
async def open_manager(
    root: Path,
    fast_open: Mapping[str, str] = FAST_OPEN,
    sessions: SessionHub | None = None,
    **options: float,
) -> AsyncIterator[RecordManager]:
    """As the agent runs it: its recordings feed camera sessions (`sessions`, else a hub of their
    own), so every recorder test runs the recording's ffmpeg with its live copy."""
    options = {"stall_timeout_s": 3.0, "max_backoff_s": 1.0} | options
    own = SessionHub(SessionSettings("ffmpeg", io_timeout_s=5.0)) if sessions is None else None
    async with httpx.AsyncClient() as http:
        manager = RecordManager(
            root,
            AGENT,
            "ffmpeg",
            http,
            fast_open=fast_open,
            sessions=sessions or own,
            **options,  # type: ignore[arg-type]
        )
        await manager.open()
        try:
            yield manager
        finally:
            await manager.aclose()
            if own is not None:
                await own.aclose()


async def wait_video(path: Path, seconds: float, timeout: float = 30.0) -> float:
    """Until the record's file holds `seconds` of video (what a sleep before a stop or a drop stood
    for); returns how much it holds."""
    return await await_until(
        lambda: (held := duration_of(path)) >= seconds and held,
        timeout,
        interval=0.25,
        what=f"{seconds} s of video in {path.name}",
    )


async def start_and_wait_for_video(
    manager: RecordManager, spec: CameraSpec, tag: str = "tag-1", ffmpeg_cmd: str | None = None
) -> RecordInfo:
    record_id = str(uuid.uuid4())
    await manager.start(record_id, tag, spec, ffmpeg_cmd)
    await await_until(lambda: manager.get(record_id).growing, what="video in the first part")
    info = manager.get(record_id)
    assert info.phase is Phase.RECORDING, info.phase
    return info


def duration_of(path: Path) -> float:
    return float(ffprobe_json(path)["format"].get("duration", 0))


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def assert_final_file(info: RecordInfo, root: Path) -> float:
    """The completed record's one final file: in place, hashed right, plays; returns its duration."""
    assert info.status == "completed", info
    assert info.path == root / "tag-1" / str(info.source_id) / f"{info.record_id}.mp4"
    assert info.location == f"{AGENT}:{info.path.relative_to(root)}"  # never the root itself
    assert info.path.is_file() and not info.path.with_suffix(".parts").exists()
    assert info.hash_md5 == md5_of(info.path)
    assert info.size_bytes == info.path.stat().st_size
    probe = ffprobe_json(info.path)
    assert probe["streams"][0]["codec_name"] == "h264"
    duration = float(probe["format"]["duration"])
    assert info.duration_s is not None and abs(duration - info.duration_s) < 0.1, (duration, info.duration_s)
    return duration
