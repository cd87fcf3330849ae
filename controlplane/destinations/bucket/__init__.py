"""Copies in S3-compatible object storage (AWS S3, MinIO, Ceph, ...): names, the client, multipart.

boto3 is synchronous, so every call runs in a worker thread and the event loop stays free. A record
is streamed: at most one part being filled and one in flight are held in memory, never the whole
file. Every copy is read back from the bucket and hashed before it counts."""

from controlplane.destinations.bucket.client import Bucket, BucketError, UploadResult
from controlplane.destinations.bucket.names import normalize_key, parse_s3_location, validate_bucket_name

__all__ = [
    "Bucket",
    "BucketError",
    "UploadResult",
    "normalize_key",
    "parse_s3_location",
    "validate_bucket_name",
]
