"""Reading tags with their records."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.data import tags as tags_data
from controlplane.errors import NotFoundError
from controlplane.models import Record, Source, Tag
from controlplane.models.record import Gap, RecordPublic
from controlplane.models.source import SourcePublic
from controlplane.models.tag import TagPublic, TagSummary


async def get_tag(session: AsyncSession, name: str) -> Tag:
    tag = await tags_data.by_name(session, name)
    if tag is None:
        raise NotFoundError("tag", repr(name))
    return tag


async def records_public(session: AsyncSession, tag_name: str, rows: Sequence[Record]) -> list[RecordPublic]:
    sources = await sources_data.by_ids(session, {r.source_id for r in rows if r.source_id is not None})
    return [
        record_public(row, tag_name, sources.get(row.source_id) if row.source_id is not None else None)
        for row in rows
    ]


def record_public(row: Record, tag_name: str, source: Source | None) -> RecordPublic:
    return RecordPublic(
        id=row.id,
        created_utc=row.created_utc,
        status=row.status,
        begin_utc=row.begin_utc,
        end_utc=row.end_utc,
        source=SourcePublic.of(source) if source is not None else None,
        hash_md5=row.hash_md5,
        location=row.location,
        sync_location=row.sync_location,
        tag_name=tag_name,
        agent=row.agent_name,
        size_bytes=row.size_bytes,
        duration_s=row.duration_s,
        error=row.error,
        gaps=[Gap.model_validate(g) for g in row.gaps or []],
        continues=row.continues,
        recovered_utc=row.recovered_utc,
    )


async def set_protected(session: AsyncSession, name: str, protected: bool) -> Tag:
    tag = await get_tag(session, name)
    tag.protected = protected
    session.add(tag)
    await session.flush()
    return tag


async def protected_names(session: AsyncSession) -> list[str]:
    """The protected tags, which agents' retention must spare."""
    return await tags_data.protected_names(session)


async def tag_public(session: AsyncSession, name: str) -> TagPublic:
    tag = await get_tag(session, name)
    assert tag.id is not None
    rows = await records_data.of_tag(session, tag.id)
    return TagPublic(
        id=tag.id,
        created_utc=tag.created_utc,
        name=tag.name,
        protected=tag.protected,
        records=await records_public(session, tag.name, rows),
    )


async def recording_now(session: AsyncSession) -> list[str]:
    return list(await tags_data.names_recording(session))


async def summaries(session: AsyncSession, limit: int, offset: int = 0) -> list[TagSummary]:
    """The newest tags first; `recording` for those with a record still active."""
    active = set(await tags_data.names_recording(session))
    return [
        TagSummary(name=t.name, created_utc=t.created_utc, protected=t.protected, recording=t.name in active)
        for t in await tags_data.newest(session, limit, offset)
    ]
