"""An S3-compatible server for tests: moto's threaded server on 127.0.0.1, killable and restartable.

moto keeps its buckets in process-wide memory, so they survive a kill and restart (like a real
server with a disk) and are shared by every server in the process: give each test its own bucket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from controlplane.settings import BucketSettings

ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - moto accepts any credentials


class _KillableMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that can drop its open connections too.

    werkzeug's threaded server keeps connections alive, so a plain shutdown() stops accepting
    new connections but goes on answering on the old ones: not what a crashed server does.
    """

    def __init__(self, port: int) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def _server_entry(self) -> None:
        server = self
        connections, lock = self.connections, self._lock

        class Handler(MotoRequestHandler):
            def setup(self) -> None:
                super().setup()
                with lock:
                    connections.add(self.connection)

            def finish(self) -> None:
                with lock:
                    connections.discard(self.connection)
                super().finish()

        app = DomainDispatcherApplication(create_backend_app)
        server._server = make_server(server._ip_address, server._port, app, True, request_handler=Handler)
        server._server_ready_event.set()
        server._server.serve_forever(poll_interval=0.05)  # quick kill()

    def kill(self) -> None:
        """Stop listening and cut every open connection, as if the process died."""
        self._server_ready_event.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # free the port for restart()
        with self._lock:
            open_connections = list(self.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):  # already gone
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()


@dataclass(frozen=True)
class MotoS3:
    """A running moto server and one empty bucket on it."""

    _box: list[_KillableMotoServer]  # the running server, swapped by restart(); shared by new_bucket() copies
    port: int
    bucket: str

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> BucketSettings:
        return BucketSettings.model_validate(self.settings_json())

    def settings_json(self, **extra: object) -> dict[str, object]:
        """The bucket's entry of VIDEOREC_SYNC_BUCKETS."""
        return {
            "endpoint_url": self.endpoint_url,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            **extra,
        }

    def client(self) -> Any:
        """A boto3 client of its own, to look at the bucket independently of the code under test."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )

    def new_bucket(self, bucket: str | None = None) -> MotoS3:
        """The same server with another, empty bucket (a fresh name by default)."""
        s3 = replace(self, bucket=bucket or f"test-{uuid.uuid4().hex[:20]}")
        s3.client().create_bucket(Bucket=s3.bucket)
        return s3

    def kill(self) -> None:
        """Stop the server and cut its connections; the buckets' contents are kept."""
        self._box[0].kill()

    def restart(self) -> None:
        """Start it again on the same port (after kill())."""
        server = _KillableMotoServer(self.port)
        server.start()
        self._box[0] = server


@contextmanager
def small_parts_allowed(min_part_size: int) -> Iterator[None]:
    """Let the server accept multipart parts down to `min_part_size` (S3 itself wants 5 MiB), so a
    short recording can go through the multipart path. Process-wide, like moto's state."""
    import moto.s3.models

    before = moto.s3.models.S3_UPLOAD_PART_MIN_SIZE
    moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = min_part_size
    try:
        yield
    finally:
        moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = before


@contextmanager
def moto_s3(bucket: str | None = None) -> Iterator[MotoS3]:
    """Start moto on a free port of 127.0.0.1, create `bucket` (a fresh name by default), stop after.

    Starting a server costs about half a second: share one (session fixture) and call new_bucket()
    per test, unless the test kills it.
    """
    server = _KillableMotoServer(port=0)  # the OS picks the port: no race with other tests
    server.start()
    box = [server]
    try:
        yield MotoS3(box, server.get_host_and_port()[1], "").new_bucket(bucket)
    finally:
        box[0].kill()
