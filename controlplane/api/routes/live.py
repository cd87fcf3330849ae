"""Live video as the camera sends it: `GET /api/v1/source/{id}/stream.mp4` (fragmented MP4), and the
console's live wall over one WebSocket (`/api/v1/live/ws`), opened with a ticket from
`POST /api/v1/live/ticket` because a browser cannot send the bearer token on a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from controlplane.api.access import AccessDep, Requires
from controlplane.api.deps import MAX_ID, ContextDep, ObjectId, SessionDep
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.context import AppContext
from controlplane.errors import ServiceError
from controlplane.services import audit, live_stream, live_tickets
from controlplane.stream_relay import Upstream
from shared.media_fanout import Init, StreamEnded

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])
# The WebSocket has no bearer token to check (browsers cannot send one): its ticket is the check.
ws_router = APIRouter(prefix="/api/v1")
MAX_TILES = 64
MAX_MESSAGE_CHARS = 1024  # a message is {"open": tile, "source": id} or {"close": tile}
_REOPEN_S = 3.0  # a tile whose camera or agent failed asks again this often
_STATUS_S = 2.0  # a tile with no video says why this often
_RECORDING_EVERY_S = 15.0
_TILE_PENDING_BYTES = 4 * 1024 * 1024  # a tile's backlog on a slow connection before it skips to a keyframe
_INIT, _FRAGMENT = 0, 1


@router.get(
    "/source/{source_id}/stream.mp4",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {live_stream.MP4_MEDIA_TYPE: {}},
            "description": "fragmented MP4 of the camera's own video from the latest keyframe on; the "
            "Content-Type names its codecs (RFC 6381), each fragment has a wall-clock prft box",
        },
        404: {"description": "no such source"},
        502: {"description": "the camera gave no video"},
        503: {"description": "no agent can reach it"},
    },
    dependencies=[Requires(Permission.LIVE)],
)
async def source_stream(ctx: ContextDep, session: SessionDep, source_id: ObjectId) -> StreamingResponse:
    upstream = await live_stream.open_stream(ctx, session, source_id)
    return StreamingResponse(
        live_stream.mp4_body(upstream),
        media_type=live_stream.content_type(upstream),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/live/ticket", response_model=live_tickets.LiveTicket, dependencies=[Requires(Permission.LIVE)])
async def live_ticket(ctx: ContextDep, access: AccessDep) -> live_tickets.LiveTicket:
    return await live_tickets.issue(ctx.sessions, access.principal)


@ws_router.websocket("/live/ws")
async def live_ws(websocket: WebSocket, ticket: str = "") -> None:
    ctx = websocket.state.ctx
    assert isinstance(ctx, AppContext)
    client = websocket.client.host if websocket.client else None
    who = await live_tickets.redeem(ctx.sessions, ticket)
    if who is None or not who.may(Permission.LIVE):
        # Counted with the HTTP refusals (api/audit_trail.py), which never see a WebSocket.
        ctx.metrics.auth_refusals.labels("403", Permission.LIVE.value).inc()
        await audit.live_refused(ctx.sessions, client)
        await websocket.close(code=1008, reason="a fresh ticket from POST /api/v1/live/ticket is required")
        return
    await websocket.accept()
    wall = _Wall(ctx, websocket, who, client)
    try:
        await wall.serve()
    finally:
        await wall.close()


class _Wall:
    """One browser's live wall: tiles opened and closed by its messages, all on one WebSocket.

    Text messages from the browser: `{"open": tile, "source": id}`, `{"close": tile}`. To it: text
    `{"tile", "state": connecting|live|reconnecting|offline, "detail", "codecs", "recording"}`, and
    binary: tile (2 bytes, big-endian), kind (1 byte: 0 init segment, 1 fragment), then the bytes."""

    def __init__(self, ctx: AppContext, websocket: WebSocket, who: Principal, client: str | None) -> None:
        self._ctx = ctx
        self._ws = websocket
        self._who = who  # whose ticket opened it: each tile is their live view in the audit trail
        self._client = client
        self._tiles: dict[int, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def serve(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                try:
                    if not isinstance(text, str):
                        raise ValueError("text messages only")
                    if len(text) > MAX_MESSAGE_CHARS:  # before parsing: deep nesting would recurse
                        raise ValueError(f"at most {MAX_MESSAGE_CHARS} characters")
                    self._on_message(json.loads(text))
                except (ValueError, TypeError, RecursionError) as exc:
                    await self._send_json({"error": f"bad message: {exc}"})

    def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise ValueError("a JSON object is expected")
        if "open" in message:
            tile, source = _number(message["open"], 0xFFFF), _number(message.get("source"), MAX_ID)
            self._stop(tile)
            if len(self._tiles) >= MAX_TILES:
                raise ValueError(f"at most {MAX_TILES} tiles")
            self._tiles[tile] = asyncio.create_task(self._tile(tile, source), name=f"live-tile-{tile}")
        elif "close" in message:
            self._stop(_number(message["close"], 0xFFFF))
        else:
            raise ValueError("expected 'open' or 'close'")

    def _stop(self, tile: int) -> None:
        task = self._tiles.pop(tile, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tiles.values())
        self._tiles.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_json(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._ws.send_text(json.dumps(message))

    async def _send_bytes(self, tile: int, kind: int, data: bytes) -> None:
        async with self._send_lock:
            await self._ws.send_bytes(struct.pack(">HB", tile, kind) + data)

    async def _status(self, tile: int, state: str, **extra: Any) -> None:
        await self._send_json({"tile": tile, "state": state, **extra})

    async def _tile(self, tile: int, source_id: int) -> None:
        try:
            await audit.live_view(self._ctx.sessions, self._who, source_id, self._client)
            await self._status(tile, "connecting")
            while True:
                try:
                    async with self._ctx.sessions() as session:
                        upstream = await live_stream.open_stream(self._ctx, session, source_id)
                except ServiceError as exc:
                    await self._status(tile, "offline", detail=exc.message, code=exc.status_code)
                    if exc.status_code in (403, 404):
                        return  # asking again cannot help
                    await asyncio.sleep(_REOPEN_S)
                    continue
                except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
                    raise
                except Exception:  # a bug here must not end the tile in silence: it says so and retries
                    log.exception("live tile %s (source %s) failed to open", tile, source_id)
                    await self._status(
                        tile, "offline", detail="the server failed to open the stream", code=500
                    )
                    await asyncio.sleep(_REOPEN_S)
                    continue
                await self._play(tile, source_id, upstream)
                await self._status(tile, "reconnecting", detail=upstream.fanout.ended or "")
        except (WebSocketDisconnect, RuntimeError):
            return  # the browser left; RuntimeError: sending on a closed WebSocket

    async def _play(self, tile: int, source_id: int, upstream: Upstream) -> None:
        loop = asyncio.get_running_loop()
        recording = await live_stream.recording(self._ctx, source_id)
        checked_at, state = loop.time(), ""
        with upstream.fanout.reading(_TILE_PENDING_BYTES) as reader:
            while True:
                try:
                    item = await reader.next(_STATUS_S)
                except TimeoutError:
                    item = None
                except StreamEnded:
                    return
                if loop.time() - checked_at > _RECORDING_EVERY_S:
                    checked_at = loop.time()
                    now_recording = await live_stream.recording(self._ctx, source_id)
                    if now_recording != recording:
                        recording, state = now_recording, ""
                if item is None:
                    if state != "reconnecting" or upstream.status:
                        state = "reconnecting"
                        await self._status(
                            tile, state, detail=upstream.status or "waiting for video", recording=recording
                        )
                    continue
                if isinstance(item, Init):
                    await self._status(tile, "live", codecs=item.codecs, recording=recording)
                    state = "live"
                    await self._send_bytes(tile, _INIT, item.data)
                    continue
                if state != "live":
                    state = "live"
                    init = upstream.fanout.init
                    await self._status(tile, state, codecs=init.codecs if init else "", recording=recording)
                await self._send_bytes(tile, _FRAGMENT, item.data)


def _number(value: Any, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ValueError(f"expected a whole number from 0 to {maximum}")
    return value
