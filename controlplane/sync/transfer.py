"""Copying one finished record to one destination, verified against the record's MD5."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import httpx

from controlplane.agents.client import AgentClient
from controlplane.agents.pool import AgentPool
from controlplane.errors import AgentUnavailableError, CopyVerificationError, ServiceError
from controlplane.models import Record
from controlplane.sync.locations import AgentTarget, PeerTarget, S3Target, Target
from shared.rpc import agent_pb2 as pb

MIN_RATE = 1024 * 1024  # bytes/s assumed when a deadline is sized for a copy
COPY_CHUNK = 4 * 1024 * 1024  # the agents' largest; gRPC messages stay under their 8 MiB limit


async def metered(
    chunks: AsyncIterator[bytes], on_bytes: Callable[[int], None], bandwidth_bps: int | None
) -> AsyncIterator[bytes]:
    """Count what passes, and hold the average rate under the job's cap (for thin site links)."""
    started, sent = time.monotonic(), 0
    async for chunk in chunks:
        yield chunk
        sent += len(chunk)
        on_bytes(len(chunk))
        if bandwidth_bps:
            ahead = sent / bandwidth_bps - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)


def safe_tag(tag_name: str) -> str:
    """A tag as one path segment (destinations name folders and keys after it)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in tag_name).strip(".")
    return safe or "tag"


def copy_key(tag_name: str, record: Record) -> str:
    return f"{safe_tag(tag_name)}/{record.id}.mp4"


async def copy_record(
    record: Record,
    tag_name: str,
    source: AgentClient,
    target: Target,
    agents: AgentPool,
    agent_address: Callable[[str], str | None],
    on_bytes: Callable[[int], None],
    bandwidth_bps: int | None,
) -> str:
    """Copy and verify; returns the sync_location. Raises a ServiceError to be retried."""
    assert record.location and record.hash_md5 and record.size_bytes is not None
    size, md5 = record.size_bytes, record.hash_md5
    chunks = metered(
        source.read_file(record.id, record.location, 0, size, COPY_CHUNK), on_bytes, bandwidth_bps
    )
    deadline = 60.0 + size / min(bandwidth_bps or MIN_RATE, MIN_RATE)
    if isinstance(target, AgentTarget):
        address = agent_address(target.agent)
        if address is None:
            raise AgentUnavailableError(f"destination agent {target.agent} is offline")
        dest = agents.client(target.agent, address)
        header = pb.WriteFileHeader(record_id=record.id, path=target.path, size=size, hash_md5=md5)
        result = await dest.write_file(header, chunks, deadline)
        if result.hash_md5 != md5 or result.size != size:
            raise CopyVerificationError(f"agent {target.agent} kept {result.hash_md5}, expected {md5}")
        return result.location
    if isinstance(target, PeerTarget):
        return await _copy_to_peer(record, tag_name, target, chunks, size, md5, deadline)
    if isinstance(target, S3Target):
        return await _copy_to_s3(record, tag_name, target, chunks, size, md5, bandwidth_bps)
    raise AssertionError(target)


async def _copy_to_peer(
    record: Record,
    tag_name: str,
    target: PeerTarget,
    chunks: AsyncIterator[bytes],
    size: int,
    md5: str,
    deadline: float,
) -> str:
    params = {"tag_name": tag_name, "record_id": record.id, "hash_md5": md5, "size": str(size)}
    if record.begin_utc:
        params["begin_utc"] = record.begin_utc.isoformat()
    if record.end_utc:
        params["end_utc"] = record.end_utc.isoformat()
    headers = {"Content-Type": "video/mp4", "Content-Length": str(size)}
    if target.config.token:
        headers["Authorization"] = f"Bearer {target.config.token.get_secret_value()}"
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(deadline, connect=10)) as client:
            response = await client.post(
                f"{target.base_url}/api/v1/import", params=params, content=chunks, headers=headers
            )
    except httpx.HTTPError as exc:
        raise AgentUnavailableError(f"peer {target.base_url} is unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ServiceError(f"peer {target.base_url} answered {response.status_code}: {response.text[:200]}")
    if response.json().get("hash_md5") != md5:
        raise CopyVerificationError(f"peer {target.base_url} kept a different MD5")
    return f"{target.base_url}/api/v1/record/{quote(record.id)}"


async def _copy_to_s3(
    record: Record,
    tag_name: str,
    target: S3Target,
    chunks: AsyncIterator[bytes],
    size: int,
    md5: str,
    bandwidth_bps: int | None,
) -> str:
    from controlplane.sync.s3 import S3Destination

    dest = S3Destination(target.bucket, target.prefix, target.config)
    key = copy_key(tag_name, record)
    # The bandwidth cap is already applied by `metered`.
    result = await dest.upload(key, chunks, size, md5)
    if result.hash_md5 != md5:
        raise CopyVerificationError(f"s3://{target.bucket} kept {result.hash_md5}, expected {md5}")
    return dest.location(key)
