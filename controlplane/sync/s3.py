"""Copies of finished records in S3-compatible object storage (AWS S3, MinIO, Ceph, ...).

boto3 is synchronous, so every call runs in a worker thread (`asyncio.to_thread`) and the event loop
stays free. A recording is streamed: at most one part being filled and one part in flight are held
in memory, never the whole file. Every copy is read back from the bucket and hashed before it counts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
import mimetypes
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from controlplane.errors import CopyVerificationError, ServiceError

log = logging.getLogger(__name__)

T = TypeVar("T")

PART_SIZE = 8 * 1024 * 1024  # multipart part size; S3 wants >= 5 MiB for every part but the last
MAX_PARTS = 10_000  # S3's limit on parts per upload: larger files get larger parts
READ_CHUNK = 1024 * 1024  # read-back granularity when verifying
METADATA_MD5 = "md5"  # stored as x-amz-meta-md5: lets a retried copy be recognised without reading it

_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
# Tasks that must outlive a cancelled upload (abort of a multipart upload); kept referenced so the
# garbage collector cannot drop them half-way.
_background: set[asyncio.Task[None]] = set()


class S3DestinationError(ServiceError):
    """The bucket could not be reached or refused a request: worth retrying later."""

    status_code = 502


class BucketConfig(BaseModel):
    """How to reach one S3-compatible service; readable from JSON settings."""

    model_config = ConfigDict(frozen=True)

    endpoint_url: str | None = Field(
        None, description="None for AWS itself, else e.g. https://minio.example:9000"
    )
    access_key_id: str
    secret_access_key: SecretStr
    region: str = "us-east-1"
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "path", description="path style works with every S3-compatible server and with IP endpoints"
    )


class BucketCredentials(Protocol):
    """What S3Destination needs from a config: BucketConfig, or the settings' BucketSettings."""

    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> SecretStr: ...
    @property
    def region(self) -> str: ...


@dataclass(frozen=True)
class UploadResult:
    """A verified copy. `skipped` when an identical object (same size and MD5) was already there."""

    key: str
    size: int
    hash_md5: str
    skipped: bool = False


def validate_bucket_name(bucket: str) -> str:
    """Apply S3's bucket naming rules (general purpose buckets); returns the name or raises ValueError."""
    if not _BUCKET_RE.match(bucket):
        raise ValueError(
            f"bad bucket name {bucket!r}: 3-63 lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        raise ValueError(f"bad bucket name {bucket!r}: adjacent dots or dot-hyphen")
    if _IPV4_RE.match(bucket):
        raise ValueError(f"bad bucket name {bucket!r}: looks like an IP address")
    if bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        raise ValueError(f"bad bucket name {bucket!r}: reserved prefix or suffix")
    return bucket


def normalize_key(*parts: str) -> str:
    """Join key parts with single slashes; refuses `..` so a key cannot climb out of its prefix.

    Empty and `.` segments are dropped (S3 keeps them literally, which would make `a//b` and `a/b`
    two different objects for what is meant to be one path).
    """
    segments: list[str] = []
    for part in parts:
        if "\\" in part or any(ord(c) < 0x20 or c == "\x7f" for c in part):
            raise ValueError(f"bad key part {part!r}: backslash or control character")
        for segment in part.split("/"):
            if segment == "..":
                raise ValueError(f"bad key part {part!r}: '..' segments are not allowed")
            if segment and segment != ".":
                segments.append(segment)
    return "/".join(segments)


def parse_s3_location(location: str) -> tuple[str, str]:
    """Split `s3://BUCKET/PREFIX` into (bucket, normalised prefix without outer slashes)."""
    scheme, sep, rest = location.partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError(f"not an s3:// location: {location!r}")
    bucket, _, prefix = rest.partition("/")
    if any(c in rest for c in "?#%"):
        # Keys may hold these, but in a location string they are ambiguous (query, fragment, escape).
        raise ValueError(f"bad s3 location {location!r}: '?', '#' and '%' are not allowed")
    return validate_bucket_name(bucket), normalize_key(prefix)


def _check_md5(md5: str) -> str:
    md5 = md5.strip().lower()
    if not _MD5_RE.match(md5):
        raise ValueError(f"not an MD5 hex digest: {md5!r}")
    return md5


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Throttle:
    """Hold the average rate of bytes taken from the source at or under a cap."""

    def __init__(self, bandwidth_bps: int | None) -> None:
        if bandwidth_bps is not None and bandwidth_bps <= 0:
            raise ValueError("bandwidth_bps must be positive")
        self._bps = bandwidth_bps
        self._started = time.monotonic()
        self._bytes = 0

    async def account(self, n: int) -> None:
        if not self._bps:
            return
        self._bytes += n
        # Sleep until the bytes seen so far would have taken this long at the cap.
        ahead = self._bytes / self._bps - (time.monotonic() - self._started)
        if ahead > 0:
            await asyncio.sleep(ahead)


class S3Destination:
    """One `s3://BUCKET/PREFIX`: upload (verified, idempotent), delete, location."""

    def __init__(self, bucket: str, prefix: str, config: BucketCredentials) -> None:
        self.bucket = validate_bucket_name(bucket)
        self.prefix = normalize_key(prefix)
        style = getattr(config, "addressing_style", "path")
        botocore_config = Config(
            region_name=config.region,
            signature_version="s3v4",
            s3={"addressing_style": style},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            # Newer botocore adds CRC32 trailers (aws-chunked) to every upload by default, which many
            # S3-compatible servers reject; Content-MD5 per request already covers transport integrity.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A client is thread-safe (sessions are not): one per destination, shared by its threads.
        self._client: Any = _new_client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key.get_secret_value(),
            region_name=config.region,
            config=botocore_config,
        )

    @classmethod
    def from_location(cls, location: str, config: BucketCredentials) -> S3Destination:
        bucket, prefix = parse_s3_location(location)
        return cls(bucket, prefix, config)

    @property
    def client(self) -> Any:
        """The underlying boto3 client (for tests and diagnostics)."""
        return self._client

    def key(self, key_name: str) -> str:
        """The object key of `key_name`: PREFIX/key_name, slashes normalised, `..` refused."""
        name = normalize_key(key_name)
        if not name:
            raise ValueError(f"empty key name {key_name!r}")
        return normalize_key(self.prefix, name)

    def location(self, key_name: str) -> str:
        return f"s3://{self.bucket}/{self.key(key_name)}"

    async def _call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run one blocking boto3 call in a thread; bucket failures become a retryable ServiceError."""
        try:
            return await asyncio.to_thread(fn, **kwargs)
        except ClientError as exc:
            raise S3DestinationError(f"s3://{self.bucket}: {_error_code(exc)}: {exc}") from exc
        except BotoCoreError as exc:
            raise S3DestinationError(f"s3://{self.bucket}: {type(exc).__name__}: {exc}") from exc

    async def upload(
        self,
        key_name: str,
        chunks: AsyncIterator[bytes],
        size: int,
        expected_md5: str,
        *,
        bandwidth_bps: int | None = None,
    ) -> UploadResult:
        """Stream `chunks` (exactly `size` bytes hashing to `expected_md5`) to PREFIX/key_name.

        Single PUT up to one part, multipart beyond. The object is read back and hashed before this
        returns; a copy that does not match is deleted and CopyVerificationError raised. If an
        identical object is already there (size and stored MD5 metadata), nothing is sent. A failure
        of the source stream propagates as is; the bucket's failures raise S3DestinationError. Either
        way no object and no multipart parts are left behind (unless the bucket itself is gone).
        """
        key = self.key(key_name)
        md5 = _check_md5(expected_md5)
        if size < 0:
            raise ValueError("size must be >= 0")
        try:
            existing = await self._head(key)
            if (
                existing is not None
                and existing.get("ContentLength") == size
                and existing.get("Metadata", {}).get(METADATA_MD5) == md5
            ):
                log.info("s3://%s/%s already holds this copy; not sent again", self.bucket, key)
                return UploadResult(key, size, md5, skipped=True)
            throttle = _Throttle(bandwidth_bps)  # from here: the cap is about the bytes, not the HEAD
            if size <= PART_SIZE:
                await self._put_single(key, chunks, size, md5, throttle)
            else:
                await self._put_multipart(key, chunks, size, md5, throttle)
        finally:
            # Stop the source (e.g. a gRPC stream from an agent) at once instead of at GC time.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        await self._verify(key, size, md5)
        return UploadResult(key, size, md5)

    async def delete(self, key_name: str) -> None:
        """Remove the copy of `key_name`; no error if it is not there."""
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=self.key(key_name))

    async def abort_incomplete_uploads(self, key_name: str | None = None) -> int:
        """Abort unfinished multipart uploads under the prefix (or of one key); returns how many.

        An upload whose bucket went away mid-copy cannot be aborted at the time; call this on the
        next attempt (or set an AbortIncompleteMultipartUpload lifecycle rule on the bucket).
        Do not call it while another copy to the same keys is running: that copy's upload would fail.
        """
        prefix = self.key(key_name) if key_name is not None else (self.prefix + "/" if self.prefix else "")
        aborted = 0
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = await self._call(self._client.list_multipart_uploads, **kwargs)
            for upload in page.get("Uploads", []):
                if key_name is not None and upload["Key"] != prefix:
                    continue  # same prefix, other key
                await self._call(
                    self._client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
                aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")

    # --- internals -------------------------------------------------------------------------------

    async def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise S3DestinationError(f"s3://{self.bucket}: {_error_code(exc)}: {exc}") from exc
        except BotoCoreError as exc:
            raise S3DestinationError(f"s3://{self.bucket}: {type(exc).__name__}: {exc}") from exc

    async def _put_single(
        self, key: str, chunks: AsyncIterator[bytes], size: int, md5: str, throttle: _Throttle
    ) -> None:
        # At most one part: gathering it in memory is within the budget and avoids a multipart round trip.
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > size:
                raise CopyVerificationError(f"source sent more than the record's {size} bytes")
            await throttle.account(len(chunk))
        self._check_source(key, len(body), hashlib.md5(body).hexdigest(), size, md5)  # noqa: S324
        await self._call(
            self._client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=bytes(body),
            ContentLength=size,
            ContentMD5=_b64_md5(body),  # the bucket refuses bytes damaged on the way
            ContentType=_content_type(key),
            Metadata={METADATA_MD5: md5},
        )

    async def _put_multipart(
        self, key: str, chunks: AsyncIterator[bytes], size: int, md5: str, throttle: _Throttle
    ) -> None:
        part_size = max(PART_SIZE, math.ceil(size / MAX_PARTS))
        created = await self._call(
            self._client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            ContentType=_content_type(key),
            Metadata={METADATA_MD5: md5},
        )
        upload_id: str = created["UploadId"]
        hasher = hashlib.md5()  # noqa: S324 - MD5 is the record's content hash, not a security measure
        parts: list[dict[str, Any]] = []
        # The part being sent while the next one fills: bounds memory to about two parts.
        in_flight: asyncio.Task[dict[str, Any]] | None = None
        received = 0

        async def send(number: int, data: bytes) -> dict[str, Any]:
            response = await self._call(
                self._client.upload_part,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ContentLength=len(data),
                ContentMD5=_b64_md5(data),
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
                await throttle.account(len(chunk))
            self._check_source(key, received, hasher.hexdigest(), size, md5)
            if buffer:
                await start(bytes(buffer))
                buffer.clear()
            if in_flight is not None:
                parts.append(await asyncio.shield(in_flight))
                in_flight = None
            await self._call(
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Abort even when cancelled: run it as its own task so a second cancel cannot cut it short.
            task = asyncio.ensure_future(self._abort(key, upload_id, in_flight))
            _background.add(task)
            task.add_done_callback(_background.discard)
            await asyncio.shield(task)
            raise

    async def _abort(self, key: str, upload_id: str, in_flight: asyncio.Future[Any] | None) -> None:
        # A part still being sent would otherwise land after the abort and linger as an orphan.
        if in_flight is not None:
            await asyncio.wait({in_flight})  # finished, whichever way; never raises
            if not in_flight.cancelled():
                in_flight.exception()  # mark it seen: its failure is why we abort, already reported
        try:
            await self._call(
                self._client.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id
            )
        except S3DestinationError as exc:
            log.warning(
                "could not abort multipart upload %s of s3://%s/%s: %s", upload_id, self.bucket, key, exc
            )

    def _check_source(self, key: str, received: int, got_md5: str, size: int, md5: str) -> None:
        """Refuse to commit bytes that are not the record: nothing is created in the bucket."""
        if received != size:
            raise CopyVerificationError(f"source sent {received} bytes for {key}, the record has {size}")
        if got_md5 != md5:
            raise CopyVerificationError(f"source bytes of {key} hash to {got_md5}, the record to {md5}")

    async def _verify(self, key: str, size: int, md5: str) -> None:
        """Read the object back and hash it; a mismatch deletes the object and raises."""
        got_size, got_md5 = await self._call(self._read_back, key=key)
        if got_size != size or got_md5 != md5:
            await self._call(self._client.delete_object, Bucket=self.bucket, Key=key)
            raise CopyVerificationError(
                f"s3://{self.bucket}/{key} holds {got_size} bytes hashing to {got_md5}, expected {size} / {md5}"
            )

    def _read_back(self, key: str) -> tuple[int, str]:
        """Blocking: stream the object and hash it, a chunk at a time."""
        response = self._client.get_object(Bucket=self.bucket, Key=key)
        body = response["Body"]
        hasher = hashlib.md5()  # noqa: S324
        total = 0
        try:
            for chunk in body.iter_chunks(READ_CHUNK):
                hasher.update(chunk)
                total += len(chunk)
        finally:
            body.close()
        return total, hasher.hexdigest()


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _new_client(service: str, **kwargs: Any) -> Any:
    """A client from one shared session: it caches the loaded API models (~0.1 s saved per client).

    The lock because creating clients from one session is not thread-safe.
    """
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, **kwargs)


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _b64_md5(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324
