"""Copies to S3-compatible storage (`controlplane.destinations.bucket`), against moto's server over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from controlplane.destinations import Outgoing, copy_key
from controlplane.destinations.bucket import Bucket, BucketError, parse_s3_location
from controlplane.destinations.s3 import S3Destination
from controlplane.errors import CopyVerificationError
from controlplane.settings import BucketSettings
from videorec_testing.s3 import MotoS3, moto_s3

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def shared_s3() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture
def s3(shared_s3: MotoS3) -> MotoS3:
    """A fresh bucket on the module's server: moto's state is process-wide, buckets keep tests apart."""
    return shared_s3.new_bucket()


@pytest.fixture
def own_s3() -> Iterator[MotoS3]:
    """A server of the test's own, for tests that kill it."""
    with moto_s3() as server:
        yield server


@pytest.fixture
def dest(s3: MotoS3) -> Bucket:
    return Bucket(s3.bucket, "/archive//site-a/", s3.config)


async def chunked(
    data: bytes,
    chunk: int = MiB,
    *,
    fail_after: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """Yield `data` in chunks, as the agent's gRPC stream does; optionally break after some chunks."""
    for i, start in enumerate(range(0, len(data), chunk)):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("source agent went away")
        if on_chunk is not None:
            on_chunk(i)
        yield data[start : start + chunk]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def exists(s3: MotoS3, key: str) -> bool:
    try:
        s3.client().head_object(Bucket=s3.bucket, Key=key)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey")
        return False
    return True


def pending_uploads(s3: MotoS3) -> list[dict[str, Any]]:
    return s3.client().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])


def count_calls(dest: Bucket, operation: str) -> list[str]:
    calls: list[str] = []
    dest.client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(operation))
    return calls


async def test_large_file_goes_multipart_and_is_verified(s3: MotoS3, dest: Bucket) -> None:
    data = os.urandom(20 * MiB)
    result = await dest.upload("tag/rec-1.mp4", chunked(data), len(data), md5(data))

    assert result.key == "archive/site-a/tag/rec-1.mp4"
    assert (result.size, result.hash_md5, result.skipped) == (len(data), md5(data), False)
    obj = s3.client().get_object(Bucket=s3.bucket, Key=result.key)
    assert md5(obj["Body"].read()) == md5(data)
    assert obj["ETag"].strip('"').endswith("-3")  # 8 + 8 + 4 MiB parts
    assert obj["Metadata"]["md5"] == md5(data)
    assert obj["ContentType"] == "video/mp4"
    assert pending_uploads(s3) == []


async def test_small_file_is_one_put(s3: MotoS3, dest: Bucket) -> None:
    data = os.urandom(300_000)
    puts = count_calls(dest, "PutObject")
    multipart = count_calls(dest, "CreateMultipartUpload")
    result = await dest.upload("rec-2.mp4", chunked(data, 64 * 1024), len(data), md5(data).upper())

    assert result.hash_md5 == md5(data)
    assert (puts, multipart) == (["PutObject"], [])
    obj = s3.client().get_object(Bucket=s3.bucket, Key=result.key)
    assert obj["ETag"].strip('"') == md5(data)
    assert obj["Body"].read() == data


async def test_exactly_one_part_and_empty_file(s3: MotoS3, dest: Bucket) -> None:
    for name, data in (("one-part", os.urandom(dest.part_size)), ("empty", b"")):
        result = await dest.upload(name, chunked(data), len(data), md5(data))
        assert s3.client().get_object(Bucket=s3.bucket, Key=result.key)["Body"].read() == data


@pytest.mark.parametrize("size", [2 * MiB, 20 * MiB])
async def test_wrong_md5_is_refused_and_leaves_nothing(s3: MotoS3, dest: Bucket, size: int) -> None:
    data = os.urandom(size)
    with pytest.raises(CopyVerificationError):
        await dest.upload("bad.mp4", chunked(data), len(data), md5(b"something else"))
    assert not exists(s3, "archive/site-a/bad.mp4")
    assert pending_uploads(s3) == []


@pytest.mark.parametrize("size", [2 * MiB, 20 * MiB])
async def test_source_shorter_or_longer_than_the_record_is_refused(
    s3: MotoS3, dest: Bucket, size: int
) -> None:
    data = os.urandom(size)
    with pytest.raises(CopyVerificationError, match="bytes"):
        await dest.upload("short.mp4", chunked(data[:-1]), size, md5(data))
    with pytest.raises(CopyVerificationError, match="more than"):
        await dest.upload("long.mp4", chunked(data + b"x"), size, md5(data))
    assert not exists(s3, "archive/site-a/short.mp4") and not exists(s3, "archive/site-a/long.mp4")
    assert pending_uploads(s3) == []


async def test_copy_that_reads_back_wrong_is_deleted(s3: MotoS3, dest: Bucket) -> None:
    data = os.urandom(3 * MiB)
    rotten = bytearray(data)
    rotten[len(rotten) // 2] ^= 0xFF

    def rot(**_: object) -> None:
        # The bucket damaging what it stored, between the PUT and the read-back.
        s3.client().put_object(Bucket=s3.bucket, Key="archive/site-a/rotten.mp4", Body=bytes(rotten))

    dest.client.meta.events.register("after-call.s3.PutObject", rot)
    with pytest.raises(CopyVerificationError, match="holds"):
        await dest.upload("rotten.mp4", chunked(data), len(data), md5(data))
    assert not exists(s3, "archive/site-a/rotten.mp4")


async def test_second_upload_of_the_same_copy_sends_nothing(s3: MotoS3, dest: Bucket) -> None:
    data = os.urandom(10 * MiB)
    await dest.upload("again.mp4", chunked(data), len(data), md5(data))
    before = s3.client().head_object(Bucket=s3.bucket, Key="archive/site-a/again.mp4")

    sent = count_calls(dest, "UploadPart") + count_calls(dest, "PutObject")
    read: list[int] = []
    result = await dest.upload("again.mp4", chunked(data, on_chunk=read.append), len(data), md5(data))
    assert result.skipped and result.hash_md5 == md5(data)
    assert sent == []
    assert read == []  # the source is not even read
    after = s3.client().head_object(Bucket=s3.bucket, Key="archive/site-a/again.mp4")
    assert after["LastModified"] == before["LastModified"] and after["ETag"] == before["ETag"]


async def test_a_different_object_at_the_key_is_replaced(s3: MotoS3, dest: Bucket) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key="archive/site-a/old.mp4", Body=b"stale")
    data = os.urandom(MiB)
    result = await dest.upload("old.mp4", chunked(data), len(data), md5(data))
    assert not result.skipped
    assert s3.client().get_object(Bucket=s3.bucket, Key=result.key)["Body"].read() == data


async def test_delete(s3: MotoS3, dest: Bucket) -> None:
    data = os.urandom(1000)
    result = await dest.upload("gone.mp4", chunked(data), len(data), md5(data))
    assert exists(s3, result.key)
    await dest.delete("gone.mp4")
    assert not exists(s3, result.key)
    await dest.delete("gone.mp4")  # deleting what is not there is fine


@pytest.mark.parametrize("size", [2 * MiB, 20 * MiB])
async def test_source_failing_midway_leaves_no_object_and_no_parts(
    s3: MotoS3, dest: Bucket, size: int
) -> None:
    data = os.urandom(size)
    with pytest.raises(RuntimeError, match="went away"):
        await dest.upload("broken.mp4", chunked(data, fail_after=size // MiB - 2), size, md5(data))
    assert not exists(s3, "archive/site-a/broken.mp4")
    assert pending_uploads(s3) == []


async def test_cancelled_copy_leaves_no_parts(s3: MotoS3, dest: Bucket) -> None:
    data = os.urandom(20 * MiB)
    second_part_filling = asyncio.Event()

    def note(i: int) -> None:
        if i == 10:
            second_part_filling.set()

    task = asyncio.create_task(
        dest.upload("cancelled.mp4", chunked(data, on_chunk=note), len(data), md5(data))
    )
    await second_part_filling.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not exists(s3, "archive/site-a/cancelled.mp4")
    assert pending_uploads(s3) == []


async def test_destination_killed_mid_copy_then_retried(own_s3: MotoS3) -> None:
    s3 = own_s3
    dest = Bucket(s3.bucket, "/archive//site-a/", s3.config)
    data = os.urandom(24 * MiB)

    def kill_at(i: int) -> None:
        if i == 12:  # one part sent, the second filling
            s3.kill()

    with pytest.raises(BucketError):
        await dest.upload("killed.mp4", chunked(data, on_chunk=kill_at), len(data), md5(data))

    s3.restart()
    # The abort could not reach the dead server: the parts are still there until cleaned up.
    assert [u["Key"] for u in pending_uploads(s3)] == ["archive/site-a/killed.mp4"]
    assert await dest.abort_incomplete_uploads("killed.mp4") == 1
    assert pending_uploads(s3) == []

    result = await dest.upload("killed.mp4", chunked(data), len(data), md5(data))
    assert not result.skipped
    assert md5(s3.client().get_object(Bucket=s3.bucket, Key=result.key)["Body"].read()) == md5(data)


@pytest.mark.parametrize("key", ["../escape.mp4", "a/../../b.mp4", "a/..", "", "/", "a\\b"])
async def test_bad_key_names_are_refused(dest: Bucket, key: str) -> None:
    with pytest.raises(ValueError):
        dest.location(key)
    with pytest.raises(ValueError):
        await dest.upload(key, chunked(b"x"), 1, md5(b"x"))
    with pytest.raises(ValueError):
        await dest.delete(key)


def test_keys_and_locations(s3: MotoS3) -> None:
    dest = Bucket("my-bucket", "/a//b/./", s3.config)
    assert dest.location("tag//rec.mp4") == "s3://my-bucket/a/b/tag/rec.mp4"
    assert Bucket("my-bucket", "", s3.config).location("rec.mp4") == "s3://my-bucket/rec.mp4"
    assert Bucket.from_location("s3://my-bucket/x/", s3.config).location("r") == "s3://my-bucket/x/r"


def test_parse_s3_location() -> None:
    assert parse_s3_location("s3://videos/archive/site-a/") == ("videos", "archive/site-a")
    assert parse_s3_location("S3://my.bucket-1") == ("my.bucket-1", "")
    assert parse_s3_location("s3://abc//x//y") == ("abc", "x/y")


@pytest.mark.parametrize(
    "location",
    [
        "https://bucket/x",
        "bucket/x",
        "s3://",
        "s3://ab",
        "s3://" + "a" * 64,
        "s3://Upper",
        "s3://under_score",
        "s3://-dash",
        "s3://dash-",
        "s3://two..dots",
        "s3://dot.-dash",
        "s3://192.168.1.1",
        "s3://xn--bucket",
        "s3://bucket-s3alias",
        "s3://bucket/../x",
        "s3://bucket/a/../../x",
        "s3://bucket/a%2F..",
        "s3://bucket/a?b",
    ],
)
def test_bad_locations_are_refused(location: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_location(location)


def test_bad_bucket_name_refused_by_destination() -> None:
    config = BucketSettings.model_validate({"access_key_id": "k", "secret_access_key": "s"})
    with pytest.raises(ValueError):
        Bucket("Bad_Bucket", "", config)
    with pytest.raises(ValueError):
        Bucket("good-bucket", "a/../..", config)


def test_config_reads_from_json_and_hides_the_secret() -> None:
    config = BucketSettings.model_validate_json(
        '{"endpoint_url": "http://minio:9000", "access_key_id": "k", "secret_access_key": "hush"}'
    )
    assert config.region == "us-east-1" and config.secret_access_key.get_secret_value() == "hush"
    assert "hush" not in repr(config)


async def test_a_retry_that_finds_the_bucket_away_aborts_the_dead_attempts_upload_once_it_is_back(
    s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen under CI load: the retry's first look for the dead attempt's upload failed (the bucket not
    back yet), its own upload then went through, and the dead attempt's parts were left to cost."""
    destination = S3Destination(s3.bucket, "archive", s3.config)
    data = os.urandom(3 * MiB)
    record = SimpleNamespace(id="rec-9", size_bytes=len(data), hash_md5=md5(data))
    key = "archive/" + copy_key("tag", record)  # type: ignore[arg-type]
    dead = s3.client().create_multipart_upload(Bucket=s3.bucket, Key=key)  # the attempt the bucket cut
    s3.client().upload_part(
        Bucket=s3.bucket, Key=key, UploadId=dead["UploadId"], PartNumber=1, Body=b"x" * MiB
    )
    real = Bucket.abort_incomplete_uploads
    looks: list[str] = []

    async def away_at_first(self: Bucket, key_name: str | None = None) -> int:
        looks.append(key_name or "")
        if len(looks) == 1:
            raise BucketError("the bucket is not back yet")
        return await real(self, key_name)

    monkeypatch.setattr(Bucket, "abort_incomplete_uploads", away_at_first)
    outgoing = Outgoing(record, "tag", chunked(data), 60.0, attempt=2)  # type: ignore[arg-type]
    location = await destination.copy(outgoing)
    assert location == f"s3://{s3.bucket}/{key}" and exists(s3, key)
    assert len(looks) == 2 and pending_uploads(s3) == []
