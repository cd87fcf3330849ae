"""Rules for groups and their members."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane.data import groups as groups_data
from controlplane.data import sources as sources_data
from controlplane.errors import ConflictError
from controlplane.models import Group
from controlplane.models.group import GroupCreate, GroupWithSources
from controlplane.services import sources as sources_service
from controlplane.settings import Settings


async def create(session: AsyncSession, body: GroupCreate) -> Group:
    if await groups_data.by_name(session, body.name) is not None:
        raise ConflictError(f"group {body.name!r} already exists")
    return await groups_data.add(session, Group(name=body.name))


async def with_sources(session: AsyncSession, settings: Settings, group_id: int) -> GroupWithSources:
    group = await groups_data.get(session, group_id)
    members = await sources_data.of_group(session, group_id)
    return GroupWithSources(
        id=group_id,
        created_utc=group.created_utc,
        name=group.name,
        sources=await sources_service.public(session, settings, members),
    )


async def delete(session: AsyncSession, group_id: int) -> Group:
    group = await groups_data.get(session, group_id)
    await groups_data.delete_group(session, group)
    return group


async def add_source(session: AsyncSession, group_id: int, source_id: int) -> bool:
    await groups_data.get(session, group_id)
    await sources_data.get(session, source_id)
    if await groups_data.has_member(session, group_id, source_id):
        return False
    await groups_data.add_member(session, group_id, source_id)
    return True


async def remove_source(session: AsyncSession, group_id: int, source_id: int) -> bool:
    await groups_data.get(session, group_id)
    await sources_data.get(session, source_id)
    return await groups_data.remove_member(session, group_id, source_id)
