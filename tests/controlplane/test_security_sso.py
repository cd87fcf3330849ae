"""Hostile issuers: a JWKS that drips a byte at a time, one that never ends, one nested deeper than a
parser goes. Each is a 503 within the time-out, with bounded memory, never a 500 or a hung request.
(Forged tokens — `alg: none`, HMAC with the public key, expired, wrong audience or issuer — are in
test_sso.py.)"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import local_client, make_settings
from videorec_testing.accounts import bearer

AUDIENCE = "videorec"
TIMEOUT_S = 1.0
FLOOD_LIMIT = 64 * 1024 * 1024


class HostileIssuer:
    """A good discovery document; a JWKS answered as `mode` says. Counts the JWKS bytes it got out."""

    def __init__(self, mode: str) -> None:
        self.sent = 0
        self.done = threading.Event()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                try:
                    if self.path == "/.well-known/openid-configuration":
                        data = json.dumps({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}).encode()
                        self._head(len(data))
                        self.wfile.write(data)
                    elif mode == "drip":
                        self._head(10_000)
                        for _ in range(100):  # 30 s at most
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            issuer.sent += 1
                            time.sleep(0.3)
                    elif mode == "flood":
                        self._head(None)
                        chunk = b" " * 65536
                        while issuer.sent < FLOOD_LIMIT:
                            self.wfile.write(chunk)
                            issuer.sent += len(chunk)
                    elif mode == "deep":
                        data = b'{"keys": ' + b"[" * 300_000 + b"]" * 300_000 + b"}"
                        self._head(len(data))
                        self.wfile.write(data)
                except OSError:
                    pass  # the client hung up: what this test wants
                finally:
                    if self.path != "/.well-known/openid-configuration":
                        issuer.done.set()

            def _head(self, length: int | None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if length is None:
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(params=["drip", "flood", "deep"])
def hostile(request: pytest.FixtureRequest) -> Iterator[HostileIssuer]:
    made = HostileIssuer(request.param)
    try:
        yield made
    finally:
        made.server.shutdown()
        made.server.server_close()


def test_a_hostile_jwks_is_503_within_the_time_out_and_bounded(
    tmp_path: Path, hostile: HostileIssuer
) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        oidc_issuer=hostile.url,
        oidc_audience=AUDIENCE,
        oidc_timeout_s=TIMEOUT_S,
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"iss": hostile.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, key, "RS256")
    for client in local_client(settings):
        started = time.monotonic()
        response = client.get("/api/v1/source", headers=bearer(token))
        took = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert token not in response.text
        assert took < 3 * TIMEOUT_S + 2, took  # the discovery and the JWKS: a time-out each at most
    assert hostile.done.wait(40)
    assert hostile.sent < FLOOD_LIMIT / 4, hostile.sent  # it stopped reading long before the end
