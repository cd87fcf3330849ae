"""The baseline of bench/rest_list.py: the plainest FastAPI + SQLModel app that lists the same
source rows from the same SQLite file (no masking, no agents, no middleware).

    VIDEOREC_BARE_DB=/path/videorec.db uvicorn bench.bare_list_app:app

(Importing it does nothing else: `make bench` runs every file in bench/.)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
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


engines: dict[str, AsyncEngine] = {}


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    engines["db"] = create_async_engine("sqlite+aiosqlite:///" + os.environ["VIDEOREC_BARE_DB"])
    yield
    await engines.pop("db").dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/api/v1/source", response_model=list[Source])
async def list_sources() -> list[Source]:
    async with AsyncSession(engines["db"]) as s:
        return list((await s.exec(select(Source))).all())
