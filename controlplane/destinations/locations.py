"""Sync destinations: a `location` string checked against the allow-list in settings.

Only what an admin configured can receive copies; anything else is a 422 and nothing is sent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from controlplane import liveness
from controlplane.context import AppContext
from controlplane.data import agents as agents_data
from controlplane.destinations import Destination, Links
from controlplane.destinations.agent import AgentDestination
from controlplane.destinations.peer import PeerDestination
from controlplane.destinations.s3 import S3Destination
from controlplane.errors import invalid
from controlplane.models import Agent
from controlplane.settings import Settings
from shared.net import is_loopback

_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


def _bad(msg: str) -> Exception:
    return invalid(("body", "location"), msg)


def _clean_path(path: str) -> str:
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.match(segment):
            raise _bad(f"path segment {segment!r} is not allowed")
    return "/".join(segments)


def parse_location(location: str, settings: Settings, links: Links) -> Destination:
    if "%" in location or "\\" in location or any(ch.isspace() for ch in location):
        raise _bad("location must not contain escapes, backslashes or white space")
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == "agent":
        name = parts.netloc
        if name not in settings.sync_agents:
            raise _bad(f"agent {name!r} is not an allowed sync destination")
        return AgentDestination(name, _clean_path(parts.path) or "default", links)
    if scheme in ("https", "http"):
        host = parts.hostname or ""
        if scheme == "http" and not is_loopback(host):
            raise _bad("plain http is only allowed to loopback peers; use https")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        config = settings.sync_peers.get(netloc)
        if config is None:
            raise _bad(f"peer {netloc!r} is not an allowed sync destination")
        return PeerDestination(f"{scheme}://{netloc}", config)
    if scheme == "s3":
        config_b = settings.sync_buckets.get(parts.netloc)
        if config_b is None:
            raise _bad(f"bucket {parts.netloc!r} is not an allowed sync destination")
        return S3Destination(parts.netloc, _clean_path(parts.path), config_b)
    raise _bad("location must be agent://NAME/PATH, https://HOST/ or s3://BUCKET/PREFIX")


def holder_of(sync_location: str, settings: Settings, links: Links) -> Destination:
    """The destination that holds an existing copy, to delete it."""
    if sync_location.startswith(("http://", "https://")):
        return parse_location(sync_location.split("/api/v1/record/", 1)[0] + "/", settings, links)
    if sync_location.startswith("s3://"):
        bucket = sync_location.removeprefix("s3://").partition("/")[0]
        return parse_location(f"s3://{bucket}/", settings, links)
    # A copy on an agent stays deletable after the agent left the allow-list.
    return AgentDestination(sync_location.split(":", 1)[0], "", links)


def links_of(ctx: AppContext) -> Links:
    async def online_agent(name: str) -> Agent | None:
        async with ctx.sessions() as session:
            agent = await agents_data.get(session, name)
        return agent if agent is not None and liveness.is_online(agent, ctx.settings) else None

    return Links(ctx.agents, online_agent)
