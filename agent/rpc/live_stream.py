"""The LiveStream call: a camera's own video as fMP4, read from the agent's one session to it.

The caller gets the init segment and the fragments since the latest keyframe at once, then every
fragment as the camera sends it. A camera that cannot be read before anything was sent is a
CameraError (FAILED_PRECONDITION with why, by agent.rpc.status), so the control plane can answer with an HTTP status; once the stream
has started, a camera that goes away is a status piece every few seconds (the viewer shows
"reconnecting: connection refused") while the session keeps asking the camera, and the stream goes
on with a new init segment when it is back.

`over_http` (the control plane reaches the agent's HTTP port): the first piece carries a ticket to
the same items on the HTTP port (agent.ops.live), where they cost a fraction of a gRPC message each,
and the call then only holds the session and sends the status pieces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from agent.cameras.spec import CameraSpec
from agent.errors import CameraError, CameraFailure
from agent.live.session import CameraSession
from agent.live.session_hub import SessionHub
from shared.media_fanout import Init, Item, Reader
from shared.rpc import agent_pb2 as pb

_STATUS_EVERY_S = 2.0
# Failures that a camera's next answer may mend, and how long they may last before the viewer is told.
_TRANSIENT = frozenset({CameraFailure.UNREACHABLE, CameraFailure.BAD_RESPONSE, CameraFailure.NO_FRAME})
_TRANSIENT_S = 4.0  # the session asks again after 0.5, 1.5 and 3.5 s


async def live_stream(
    sessions: SessionHub, spec: CameraSpec, first_timeout_s: float, *, over_http: bool = False
) -> AsyncIterator[pb.MediaPiece]:
    if not spec.rtsp_url:
        raise CameraError(spec.source_id, "a picture-only source has no live video", CameraFailure.INVALID)
    async with sessions.hold(spec) as session:
        with session.fanout.reading() as reader:
            first = await _first(session, reader, first_timeout_s)
            if over_http:
                reader.close()  # the items go on the HTTP port: this call only holds the session
                with sessions.tickets.issued(session) as ticket:
                    first.http_ticket = ticket
                    yield first
                    async for piece in _statuses(session):
                        yield piece
                return
            yield first
            while True:
                try:
                    item = await reader.next(_STATUS_EVERY_S)
                except TimeoutError:
                    error = session.error
                    detail = error.detail if error is not None else "no video from the camera"
                    yield pb.MediaPiece(status=detail)
                    continue
                yield _piece(item)


async def _first(session: CameraSession, reader: Reader, timeout_s: float) -> pb.MediaPiece:
    """The init segment, or a CameraError saying why the camera gave none: at once for what asking
    again cannot mend (credentials, no such stream), after `_TRANSIENT_S` of failing for the rest (a
    camera that refused one connection, as one busy or just started does, is asked again meanwhile:
    the viewer got 502 from a camera that answered the next try)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # The first failure seen, and the last one: a recording's attempts clear the session's error
    # between two (each hands it a new feed), so its absence for a moment is no recovery.
    failing_since: float | None = None
    last: CameraError | None = None
    while True:
        error = session.error
        if error is not None and session.fanout.init is None:
            failing_since, last = failing_since or loop.time(), error
            if error.reason not in _TRANSIENT or loop.time() - failing_since >= _TRANSIENT_S:
                raise CameraError(error.source_id, error.detail, error.reason)
        remaining = deadline - loop.time()
        if remaining <= 0:
            if last is not None:  # what the camera said is more use than the time it took
                raise CameraError(last.source_id, last.detail, last.reason)
            raise CameraError(
                session.spec.source_id, f"no video within {timeout_s:.1f} s", CameraFailure.TIMEOUT
            )
        try:
            return _piece(await reader.next(min(remaining, 0.25)))
        except TimeoutError:
            continue  # look at the session's error again


async def _statuses(session: CameraSession) -> AsyncIterator[pb.MediaPiece]:
    """While the items go over HTTP: a status piece every few seconds that no fragment came."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(_STATUS_EVERY_S)
        latest = session.fanout.latest_at
        if session.fanout.init is None or latest is None or loop.time() - latest > _STATUS_EVERY_S:
            error = session.error
            yield pb.MediaPiece(status=error.detail if error is not None else "no video from the camera")


def _piece(item: Item) -> pb.MediaPiece:
    if isinstance(item, Init):
        return pb.MediaPiece(data=item.data, init=True, codecs=item.codecs)
    return pb.MediaPiece(data=item.data, keyframe=item.keyframe, wallclock_unix=item.wallclock or 0.0)
