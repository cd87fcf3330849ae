"""A local OIDC issuer for tests: keys generated here, its discovery document and JWKS served on
127.0.0.1, tokens signed with them (the tests of single sign-on, the console's sign-in with it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "videorec"


class Issuer:
    """A discovery document and a JWKS on 127.0.0.1; counts how often the keys are fetched."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}  # kid → private key
        self.public: list[dict[str, Any]] = []
        self.jwks_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    body = {"keys": issuer.public}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_rsa(self, kid: str) -> Any:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        self.public.append(
            {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256", "use": "sig"}
        )
        return key

    def add_ec(self, kid: str) -> Any:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = key
        self.public.append({**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"})
        return key

    def token(self, kid: str = "k1", key: Any = None, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "u-1", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(payload, key or self.keys[kid], algorithm=alg, headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def rsa_issuer(kid: str = "k1") -> Iterator[Issuer]:
    """An issuer serving one RSA key `kid`, closed after the block."""
    made = Issuer()
    made.add_rsa(kid)
    try:
        yield made
    finally:
        made.close()
