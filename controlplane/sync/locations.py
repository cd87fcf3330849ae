"""Sync destinations: a `location` string checked against the allow-list in settings.

Only what an admin configured can receive copies; anything else is a 422 and nothing is sent."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from controlplane.errors import invalid
from controlplane.settings import BucketSettings, PeerConfig, Settings

_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class AgentTarget:
    agent: str
    path: str  # relative directory under the agent's sync root

    def owns(self, sync_location: str) -> bool:
        return sync_location.startswith(f"{self.agent}:") and f"/sync/{self.path}/" in sync_location


@dataclass(frozen=True)
class PeerTarget:
    base_url: str  # scheme://host:port, no trailing slash
    config: PeerConfig

    def owns(self, sync_location: str) -> bool:
        return sync_location.startswith(self.base_url + "/")


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str
    config: BucketSettings

    def owns(self, sync_location: str) -> bool:
        base = f"s3://{self.bucket}/{self.prefix}".rstrip("/") + "/"
        return sync_location.startswith(base)


Target = AgentTarget | PeerTarget | S3Target


def _bad(msg: str) -> Exception:
    return invalid(("body", "location"), msg)


def _clean_path(path: str) -> str:
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.match(segment):
            raise _bad(f"path segment {segment!r} is not allowed")
    return "/".join(segments)


def parse_location(location: str, settings: Settings) -> Target:
    if "%" in location or "\\" in location or any(ch.isspace() for ch in location):
        raise _bad("location must not contain escapes, backslashes or white space")
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == "agent":
        name = parts.netloc
        if name not in settings.sync_agents:
            raise _bad(f"agent {name!r} is not an allowed sync destination")
        return AgentTarget(name, _clean_path(parts.path) or "default")
    if scheme in ("https", "http"):
        host = parts.hostname or ""
        if scheme == "http" and not _is_loopback(host):
            raise _bad("plain http is only allowed to loopback peers; use https")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        config = settings.sync_peers.get(netloc)
        if config is None:
            raise _bad(f"peer {netloc!r} is not an allowed sync destination")
        return PeerTarget(f"{scheme}://{netloc}", config)
    if scheme == "s3":
        config_b = settings.sync_buckets.get(parts.netloc)
        if config_b is None:
            raise _bad(f"bucket {parts.netloc!r} is not an allowed sync destination")
        return S3Target(parts.netloc, _clean_path(parts.path), config_b)
    raise _bad("location must be agent://NAME/PATH, https://HOST/ or s3://BUCKET/PREFIX")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
