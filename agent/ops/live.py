"""`GET /live/{ticket}`: a camera session's live items for the control plane's relay, on the HTTP
port instead of gRPC messages (shared.live_frames says why). The ticket (agent.live.tickets) is the
credential: it was handed over on an authenticated LiveStream call and ends with it."""

from __future__ import annotations

from aiohttp import web

from agent.live.tickets import LiveTickets
from shared.live_frames import LIVE_PATH, MEDIA_TYPE, header
from shared.media_fanout import StreamEnded


def add_routes(app: web.Application, tickets: LiveTickets) -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        reader = tickets.reader(ticket)
        if reader is None:
            raise web.HTTPNotFound(text="no such live stream")
        try:
            response = web.StreamResponse(headers={"Content-Type": MEDIA_TYPE, "Cache-Control": "no-store"})
            await response.prepare(request)
            while True:
                try:
                    item = await reader.next()
                except StreamEnded:
                    break
                try:
                    # One write per item: its header and bytes go to the socket in one send.
                    await response.write(header(item) + item.data)
                except ConnectionResetError:
                    break  # the control plane left (its viewers did): nothing to report
            return response
        finally:
            tickets.release(ticket, reader)

    app.router.add_get(LIVE_PATH, serve)
