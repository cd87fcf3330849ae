"""Copies to a bucket (`s3://BUCKET/PREFIX`): the Destination face of `controlplane.destinations.bucket`."""

from __future__ import annotations

import logging
from functools import cached_property

from controlplane.destinations import Outgoing, copy_key
from controlplane.destinations.bucket import Bucket, BucketError
from controlplane.errors import CopyVerificationError
from controlplane.settings import BucketSettings

log = logging.getLogger(__name__)


class S3Destination:
    def __init__(self, bucket: str, prefix: str, settings: BucketSettings) -> None:
        self.bucket_name, self.prefix, self.settings = bucket, prefix, settings

    @cached_property
    def _bucket(self) -> Bucket:
        return Bucket(self.bucket_name, self.prefix, self.settings)

    async def copy(self, outgoing: Outgoing) -> str:
        key = copy_key(outgoing.tag_name, outgoing.record)
        # An earlier attempt may have died with the bucket: its parts could not be aborted then. The
        # bucket may still be away at this look and back for the upload: then they go after it.
        cleaned = outgoing.attempt == 1 or await self._clean_up(key)
        try:
            result = await self._bucket.upload(key, outgoing.chunks, outgoing.size, outgoing.md5)
        except BucketError:
            await self._clean_up(key)
            raise
        if not cleaned:
            await self._clean_up(key)  # this copy is complete: only the dead attempts' uploads are left
        if result.hash_md5 != outgoing.md5:
            raise CopyVerificationError(
                f"s3://{self.bucket_name} kept {result.hash_md5}, expected {outgoing.md5}"
            )
        return self._bucket.location(key)

    async def _clean_up(self, key: str) -> bool:
        """Abort the unfinished uploads of `key`; False when the bucket could not be asked."""
        try:
            aborted = await self._bucket.abort_incomplete_uploads(key)
        except BucketError as exc:
            log.warning(
                "s3://%s: leftover parts of %s not aborted yet: %s", self.bucket_name, key, exc.message
            )
            return False
        if aborted:
            log.info("s3://%s: aborted %s unfinished upload(s) of %s", self.bucket_name, aborted, key)
        return True

    async def delete(self, record_id: str, sync_location: str) -> None:
        bucket, _, key = sync_location.removeprefix("s3://").partition("/")
        assert bucket == self.bucket_name
        await Bucket(bucket, "", self.settings).delete(key)

    def owns(self, sync_location: str) -> bool:
        base = f"s3://{self.bucket_name}/{self.prefix}".rstrip("/") + "/"
        return sync_location.startswith(base)
