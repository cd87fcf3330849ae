"""Rules for creating, changing and deleting sources."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi.exceptions import RequestValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from controlplane import liveness
from controlplane.data import agents as agents_data
from controlplane.data import groups as groups_data
from controlplane.data import records as records_data
from controlplane.data import sources as sources_data
from controlplane.errors import ConflictError, invalid
from controlplane.models import Source
from controlplane.models.source import SourceCreate, SourcePublic, SourceUpdate
from controlplane.models.source_secrets import MaskedSecretError
from controlplane.sealed import needs_sealing, opened
from controlplane.services import camera_policy
from controlplane.services.validation import checked
from controlplane.settings import Settings
from shared.heartbeat import AssignedSource


def _apply(row: Source, body: SourceCreate | SourceUpdate) -> None:
    try:
        row.apply(body)
    except MaskedSecretError as exc:
        raise invalid(("body", *exc.loc), exc.message) from None


async def _check_networks(row: Source, sent: set[str], settings: Settings) -> None:
    for field, loc, uri in (
        ("uri_rtsp", ("body", "uri_rtsp"), row.uri_rtsp),
        ("uri_http_picture", ("body", "uri_http_picture", "uri"), row.picture_uri),
    ):
        reason = await camera_policy.refusal(uri, settings) if field in sent else None
        if reason is not None:
            raise invalid(loc, f"the camera URL {reason}")


async def create(session: AsyncSession, settings: Settings, body: SourceCreate) -> Source:
    row = Source(model=body.model)
    _apply(row, body)
    await _check_networks(row, {"uri_rtsp", "uri_http_picture"}, settings)
    return await sources_data.add(session, row)


MAX_BATCH = 1000  # sources per POST /api/v1/source/batch: 10,000 cameras are ten requests


async def create_many(session: AsyncSession, settings: Settings, bodies: list[SourceCreate]) -> list[Source]:
    """Sources as `create` makes them, all in the caller's transaction: every item is checked before
    any row is written, so one refused item leaves nothing behind (its 422 names its index)."""
    rows = []
    for index, body in enumerate(bodies):
        row = Source(model=body.model)
        try:
            _apply(row, body)
        except RequestValidationError as exc:
            raise _at_index(exc, index) from None
        rows.append(row)
    # Camera names are resolved for the network policy: all of them at once, not one after another.
    checks = [_check_networks(row, {"uri_rtsp", "uri_http_picture"}, settings) for row in rows]
    for index, outcome in enumerate(await asyncio.gather(*checks, return_exceptions=True)):
        if isinstance(outcome, RequestValidationError):
            raise _at_index(outcome, index) from None
        if isinstance(outcome, BaseException):
            raise outcome
    return await sources_data.add_many(session, rows)


def _at_index(exc: RequestValidationError, index: int) -> RequestValidationError:
    """An item's 422 located in the list: ["body", index, ...] for ["body", ...]."""
    return RequestValidationError(
        [{**err, "loc": ("body", index, *tuple(err["loc"])[1:])} for err in exc.errors()]
    )


# What a recording's ffmpeg was started with (the fields of the wire shape that the API names alike:
# model, uri_rtsp, ffmpeg_cmd, and any camera field added since) and where it runs.
_FIXED_WHILE_RECORDING = frozenset(AssignedSource.model_fields) | {"agent", "site", "redundancy"}


async def update(session: AsyncSession, settings: Settings, source_id: int, body: SourceUpdate) -> Source:
    row = await sources_data.get(session, source_id)
    _apply(row, body)
    await _check_networks(row, body.model_fields_set, settings)
    # The merged source must still be whole (a Source keeps a uri_rtsp, a PictureSource its picture).
    checked(row.as_create)
    if await records_data.active_of_source(session, source_id):
        # The running ffmpeg keeps its old arguments; say so rather than silently diverge.
        changed = body.model_fields_set & _FIXED_WHILE_RECORDING
        if changed:
            raise ConflictError(
                f"source {source_id} is recording: {', '.join(sorted(changed))} cannot change"
            )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def delete(session: AsyncSession, source_id: int) -> Source:
    row = await sources_data.get(session, source_id)
    if await records_data.active_of_source(session, source_id):
        raise ConflictError(f"source {source_id} is recording; stop its tag first")
    await groups_data.remove_source_everywhere(session, source_id)
    await sources_data.delete(session, row)
    return row


async def public(session: AsyncSession, settings: Settings, rows: Sequence[Source]) -> list[SourcePublic]:
    """Sources as the API shows them, with the status of those whose agent is offline unknown."""
    agents = {a.name: a for a in await agents_data.list_all(session)}
    return [
        SourcePublic.of(
            row, row.agent_name in agents and not liveness.is_online(agents[row.agent_name], settings)
        )
        for row in rows
    ]


async def reseal_secrets(session: AsyncSession) -> int:
    """Seal camera secrets written before the key was set, or sealed with a key since retired, with
    the current key (at every start: a key rotation is a restart). Without a key, a sealed value
    fails the start (SealedSecretError) rather than the first recording of that camera."""
    sealed = 0
    for row in await sources_data.stored_secrets(session):
        stored: str | None
        for column, stored in zip(sources_data.SEALED_COLUMNS, row[1:], strict=True):
            if stored is not None and needs_sealing(stored):
                sealed += await sources_data.reseal(session, row[0], column, stored, opened(stored))
    return sealed
