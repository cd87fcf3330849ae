"""The agent's camera sessions (agent.live.session), one per RTSP source in use: held by live
readers and streams (`hold`), written by recordings (`open_feed`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from agent.cameras.spec import CameraSpec
from agent.live.session import CameraSession, Feed, SessionSettings
from agent.live.tickets import LiveTickets

log = logging.getLogger(__name__)


class SessionHub:
    """The agent's camera sessions, one per RTSP source in use; `hold()` one, close with `aclose()`."""

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self._current: dict[int, CameraSession] = {}
        self._all: set[CameraSession] = set()
        self._no_audio: set[CameraSpec] = set()  # cameras whose audio MP4 cannot hold: not tried again
        self._closed = False
        self.tickets = LiveTickets()  # the sessions' items on the HTTP port (agent.ops.live)

    @property
    def session_count(self) -> int:
        return len(self._all)

    def open_feed(self, spec: CameraSpec) -> Feed | None:
        """The source's camera session, written by a recording of it until `Feed.close()` (None once
        the hub is closed: the agent is shutting down)."""
        if self._closed:
            return None
        session = self._acquire(spec)
        feed = Feed(session, lambda: self._release(session, linger=False))
        session.attach(feed)
        return feed

    def running(self, source_id: int) -> CameraSession | None:
        """The source's current session, if one runs (held or lingering)."""
        return self._current.get(source_id)

    @contextlib.asynccontextmanager
    async def hold(self, spec: CameraSpec, *, linger: bool = True) -> AsyncIterator[CameraSession]:
        """The source's session while the block runs. `linger=False`: the holder lingers itself (a
        live JPEG reader), so the session need not stay after it on its account."""
        session = self._acquire(spec)
        try:
            yield session
        finally:
            self._release(session, linger)

    async def aclose(self) -> None:
        self._closed = True
        sessions = list(self._all)
        self._current.clear()
        for session in sessions:
            if session.linger is not None:
                session.linger.cancel()
        await asyncio.gather(*(session.close() for session in sessions))
        self._all.difference_update(sessions)

    def _acquire(self, spec: CameraSpec) -> CameraSession:
        if self._closed:
            raise RuntimeError("the camera sessions are closed")
        session = self._current.get(spec.source_id)
        if session is not None and session.spec != spec:
            # The source was changed (URL, password): the old session serves its holders until they
            # leave; new holders get a session with the new settings.
            del self._current[spec.source_id]
            session.retired = True
            session = None
        if session is None:
            session = CameraSession(
                spec, self.settings, audio=spec not in self._no_audio, on_no_audio=self._no_audio.add
            )
            self._current[spec.source_id] = session
            self._all.add(session)
        if session.linger is not None:
            session.linger.cancel()
            session.linger = None
        session.holders += 1
        return session

    def _release(self, session: CameraSession, linger: bool) -> None:
        session.holders -= 1
        if session.holders > 0 or session.closed or self._closed:
            return
        delay = self.settings.linger_s if linger and not session.retired else 0.0
        session.linger = asyncio.create_task(
            self._stop_after(session, delay), name=f"session-linger-{session.spec.source_id}"
        )

    async def _stop_after(self, session: CameraSession, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._current.get(session.spec.source_id) is session:
            del self._current[session.spec.source_id]
        await session.close()
        self._all.discard(session)
        log.info("camera session %s: ended, not needed for %.1f s", session.spec.source_id, delay)
