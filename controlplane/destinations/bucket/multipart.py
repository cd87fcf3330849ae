"""A multipart upload that holds about two parts in memory and leaves no parts behind when it fails."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from controlplane.destinations.bucket.names import METADATA_MD5, b64_md5, content_type
from controlplane.errors import BucketError, CopyVerificationError

log = logging.getLogger(__name__)

MAX_PARTS = 10_000  # S3's limit on parts per upload: larger files get larger parts
# Tasks that must outlive a cancelled upload (the abort); kept referenced so the garbage collector
# cannot drop them half-way.
_background: set[asyncio.Task[None]] = set()
T = TypeVar("T")


class Bucket(Protocol):
    """What an upload needs of `client.Bucket` (which calls this module: it is not imported back)."""

    name: str
    part_size: int
    client: Any

    async def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T: ...

    def check_source(self, key: str, received: int, got_md5: str, size: int, md5: str) -> None: ...


async def put_multipart(bucket: Bucket, key: str, chunks: AsyncIterator[bytes], size: int, md5: str) -> None:
    part_size = max(bucket.part_size, math.ceil(size / MAX_PARTS))
    created = await bucket.call(
        bucket.client.create_multipart_upload,
        Bucket=bucket.name,
        Key=key,
        ContentType=content_type(key),
        Metadata={METADATA_MD5: md5},
    )
    upload_id: str = created["UploadId"]
    hasher = hashlib.md5()  # noqa: S324 - MD5 is the record's content hash, not a security measure
    parts: list[dict[str, Any]] = []
    # The part being sent while the next one fills: bounds memory to about two parts.
    in_flight: asyncio.Task[dict[str, Any]] | None = None
    received = 0

    async def send(number: int, data: bytes) -> dict[str, Any]:
        response = await bucket.call(
            bucket.client.upload_part,
            Bucket=bucket.name,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ContentLength=len(data),
            ContentMD5=b64_md5(data),
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def start(data: bytes) -> None:
        nonlocal in_flight
        if in_flight is not None:
            # shield: if we are cancelled, the part still finishes and the abort below sees it.
            parts.append(await asyncio.shield(in_flight))
        in_flight = asyncio.ensure_future(send(len(parts) + 1, data))

    try:
        buffer = bytearray()
        async for chunk in chunks:
            received += len(chunk)
            if received > size:
                raise CopyVerificationError(f"source sent more than the record's {size} bytes")
            hasher.update(chunk)
            buffer += chunk
            while len(buffer) >= part_size:
                data = bytes(buffer[:part_size])
                del buffer[:part_size]
                await start(data)
        bucket.check_source(key, received, hasher.hexdigest(), size, md5)
        if buffer:
            await start(bytes(buffer))
            buffer.clear()
        if in_flight is not None:
            parts.append(await asyncio.shield(in_flight))
            in_flight = None
        await bucket.call(
            bucket.client.complete_multipart_upload,
            Bucket=bucket.name,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        # Abort even when cancelled: run it as its own task so a second cancel cannot cut it short.
        task = asyncio.ensure_future(_abort(bucket, key, upload_id, in_flight))
        _background.add(task)
        task.add_done_callback(_background.discard)
        await asyncio.shield(task)
        raise


async def _abort(bucket: Bucket, key: str, upload_id: str, in_flight: asyncio.Future[Any] | None) -> None:
    # A part still being sent would otherwise land after the abort and linger as an orphan.
    if in_flight is not None:
        await asyncio.wait({in_flight})  # finished, whichever way; never raises
        if not in_flight.cancelled():
            in_flight.exception()  # mark it seen: its failure is why we abort, already reported
    try:
        await bucket.call(
            bucket.client.abort_multipart_upload, Bucket=bucket.name, Key=key, UploadId=upload_id
        )
    except BucketError as exc:
        log.warning("could not abort multipart upload %s of s3://%s/%s: %s", upload_id, bucket.name, key, exc)
