"""The floor of bench/heartbeat_scale.py: the plainest FastAPI app that takes the same heartbeat
(parsed into the same model) and answers the same number of sources, with no database at all.

    VIDEOREC_BARE_SOURCES_PER_AGENT=50 uvicorn bench.bare_heartbeat_app:app

(Importing it does nothing else: `make bench` runs every file in bench/.)
"""

from __future__ import annotations

import os
import zlib

from fastapi import FastAPI

from shared.enums import SourceModel
from shared.heartbeat import HEARTBEAT_PATH, AssignedSource, HeartbeatIn, HeartbeatOut

PER_AGENT = int(os.environ.get("VIDEOREC_BARE_SOURCES_PER_AGENT", "5"))

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


@app.post(HEARTBEAT_PATH)
async def heartbeat(beat: HeartbeatIn) -> HeartbeatOut:
    base = zlib.crc32(beat.name.encode()) % 1_000_000 * PER_AGENT
    sources = [
        AssignedSource(id=base + n, model=SourceModel.SOURCE, uri_rtsp=f"rtsp://user:pw@cam-{base + n}/s")
        for n in range(PER_AGENT)
    ]
    return HeartbeatOut(interval_s=2.0, sources=sources, protected_tags=[])
