"""GET /source as pollers read it: one query decides between a 304, the cached body and a fresh read.

Where the time of a list went (1,000 sources, pyinstrument, before): SourcePublic.of per row (ORM
attribute loads, pydantic validation, masking) about half, the ORM loading Source objects a fifth,
dump_json a sixth; ~85 ms of CPU per list on the loaded test machine. Now the rows come as plain
tuples (~20 ms of CPU to read and serialise them, once per version of the table), and a request
whose version is cached costs one small query (~2 ms of CPU with the HTTP stack), a 304 the same
without the body.

What a list shows changes two ways, and its key holds both:
- a write to the source table (a client's edit, a placement, a probe's status): the database's
  version, bumped by triggers (controlplane.data.list_versions);
- an agent going silent, which no write marks: a source of an offline agent shows status `unknown`.
  So the key also holds the set of offline agents, worked out from their last heartbeat on every
  request with the same rule as everywhere else (liveness.seen_online).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic_core import to_json
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane import liveness
from controlplane.data import sources as sources_data
from controlplane.list_cache import ListCache, Page, etag, json_array, matches
from controlplane.models.common import MASK, iso_utc
from controlplane.models.source import SHOWN_AS_STORED, SourcePublic
from controlplane.models.source_secrets import mask_uri
from controlplane.settings import Settings
from shared.enums import PictureAuth, SourceStatus


async def page(
    session: AsyncSession,
    settings: Settings,
    cache: ListCache,
    *,
    offset: int = 0,
    limit: int | None = None,
    if_none_match: str | None = None,
) -> Page:
    version, agents = await sources_data.list_version(session)
    offline = tuple(
        sorted(name for name, seen, revoked in agents if not liveness.seen_online(seen, revoked, settings))
    )
    key = ("source", version, offline)
    tag = etag(*key, offset, limit)
    if matches(if_none_match, tag):
        return Page(tag, None)
    rows = cache.get(key)
    if rows is None:
        offline_set = frozenset(offline)
        rows = [_row_json(row, offline_set) for row in await sources_data.list_rows(session)]
        cache.put(key, rows)
    return Page(tag, json_array(rows, offset, limit))


def _row_json(row: Sequence[Any], offline: frozenset[str]) -> bytes:
    """One source as SourcePublic.of shows it (tests/controlplane/test_list_cache.py compares them)."""
    (
        source_id, created_utc, status, status_detail, status_utc, model, uri_rtsp,
        picture_uri, picture_auth, picture_user, has_password,
        agent, failover, second_agent, *as_stored,
    ) = row  # fmt: skip
    picture = None
    if picture_uri:
        picture = {
            "uri": mask_uri(picture_uri) or "",
            "auth": picture_auth or PictureAuth.BASIC.value,
            "user": picture_user,
            "password": MASK if has_password else None,
        }
    agent_offline = agent in offline
    shown = {
        "id": source_id,
        "created_utc": iso_utc(created_utc),
        "status": SourceStatus.UNKNOWN.value if agent_offline else status,
        "status_detail": f"agent {agent} is offline" if agent_offline else status_detail,
        "status_utc": None if status_utc is None else iso_utc(status_utc),
        "model": model,
        "uri_rtsp": mask_uri(uri_rtsp),
        "uri_http_picture": picture,
        "agent": agent,
        "failover": bool(failover),
        "second_agent": second_agent,
        **dict(zip(SHOWN_AS_STORED, as_stored, strict=True)),
    }
    return to_json({name: shown[name] for name in _FIELDS})  # in SourcePublic's order


_FIELDS = tuple(SourcePublic.model_fields)
