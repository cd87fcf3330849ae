"""The baseline of bench/source_list.py: the plainest FastAPI + SQLModel app that lists the same
source rows from the same SQLite file (no masking, no agents, no middleware).

    VIDEOREC_BARE_DB=/path/videorec.db uvicorn bench.bare_list_app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession


class Source(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_utc: datetime
    model: str
    status: str
    uri_rtsp: str | None = None
    description: str
    agent_name: str | None = None


engine = create_async_engine("sqlite+aiosqlite:///" + os.environ["VIDEOREC_BARE_DB"])
app = FastAPI()


async def session() -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine) as s:
        yield s


@app.get("/api/v1/source", response_model=list[Source])
async def list_sources() -> list[Source]:
    async with AsyncSession(engine) as s:
        return list((await s.exec(select(Source))).all())
