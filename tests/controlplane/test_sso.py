"""Single sign-on against a local OIDC issuer this test makes: its keys generated here, its discovery
document and JWKS served on 127.0.0.1. Good tokens get their role; expired, wrong audience, wrong
key, `alg: none` and HMAC-with-the-public-key tokens are 401."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from controlplane.auth import oidc
from tests.conftest import local_client, make_settings
from videorec_testing.oidc import AUDIENCE, Issuer, rsa_issuer


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with rsa_issuer() as made:
        yield made


@pytest.fixture
def api(tmp_path: Path, database_url: str, issuer: Issuer) -> Iterator[TestClient]:
    # No VIDEOREC_API_TOKEN: single sign-on alone turns authentication on.
    settings = make_settings(
        tmp_path,
        database_url,
        oidc_issuer=issuer.url,
        oidc_audience=AUDIENCE,
        oidc_roles_claim="realm_access.roles",
    )
    yield from local_client(settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def roles(*names: str) -> dict[str, Any]:
    return {"realm_access": {"roles": list(names)}}


def test_a_token_of_the_issuer_gets_the_role_its_claim_names(api: TestClient, issuer: Issuer) -> None:
    operator = issuer.token(preferred_username="olga", **roles("offline_access", "viewer", "operator"))
    me = api.get("/api/v1/me", headers=bearer(operator))
    assert me.status_code == 200, me.text
    assert (me.json()["kind"], me.json()["name"], me.json()["role"]) == ("sso", "olga", "operator")
    assert api.post("/api/v1/group", json={"name": "g"}, headers=bearer(operator)).status_code == 403
    assert api.put("/api/v1/record", json={"tag_name": "none"}, headers=bearer(operator)).status_code == 404
    admin = issuer.token(email="ada@example.org", **roles("admin"))
    assert api.post("/api/v1/group", json={"name": "g"}, headers=bearer(admin)).status_code == 201
    # Who did what, by name, and never the token.
    trail = api.get("/api/v1/audit", headers=bearer(admin))
    assert [(e["actor_kind"], e["actor"], e["action"], e["result"]) for e in trail.json()] == [
        ("sso", "ada@example.org", "create_group", "ok"),
        ("sso", "olga", "stop_recording", "failed"),
        ("sso", "olga", "create_group", "refused"),
    ]
    for token in (operator, admin):
        assert token not in trail.text and token.rsplit(".", 1)[1] not in trail.text
    # The keys were fetched once for all of it.
    assert issuer.jwks_fetches == 1


def test_a_token_without_a_role_is_recognised_and_allowed_nothing(api: TestClient, issuer: Issuer) -> None:
    response = api.get("/api/v1/source", headers=bearer(issuer.token(**roles("offline_access"))))
    assert response.status_code == 403
    assert "no role" in response.json()["detail"]


def _none_token(issuer: Issuer) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "exp": now + 300, **roles("admin")}
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}."


def test_forged_expired_and_foreign_tokens_are_401(api: TestClient, issuer: Issuer) -> None:
    admin = roles("admin")
    public_pem = (
        issuer.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    bad = {
        "expired": issuer.token(exp=now - 120, **admin),
        "wrong audience": issuer.token(aud="another-service", **admin),
        "no audience": issuer.token(aud=None, **admin),
        "wrong issuer": issuer.token(iss="http://127.0.0.1:1", **admin),
        "wrong key": issuer.token(key=stranger, **admin),
        "unknown key id": issuer.token(kid="k9", key=stranger, **admin),
        "alg none": _none_token(issuer),
        "HMAC with the public key": _hmac_with(public_pem, issuer),
        "tampered": _tampered(issuer.token(**roles("viewer"))),
        "not a JWT": "a.b.c",
    }
    for what, token in bad.items():
        response = api.get("/api/v1/source", headers=bearer(token))
        assert response.status_code == 401, (what, response.text)
    assert api.get("/api/v1/source", headers=bearer(issuer.token(**roles("viewer")))).status_code == 200


def _hmac_with(secret: bytes, issuer: Issuer) -> str:
    """HS256 signed with the issuer's public key as the secret (the algorithm-confusion attack)."""
    import hashlib
    import hmac

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "exp": now + 300, **roles("admin")}
    signing = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}"
    signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"] = {"roles": ["admin"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_keys_the_issuer_rotates_in_are_fetched_and_random_key_ids_do_not_hammer_it(
    api: TestClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.get("/api/v1/me", headers=bearer(issuer.token(**roles("viewer")))).status_code == 200
    assert issuer.jwks_fetches == 1
    issuer.add_ec("k2")
    rotated = issuer.token(kid="k2", alg="ES256", **roles("viewer"))
    # Fetched again at most every REFETCH_MIN_S (30 s): until then the new key is unknown.
    assert api.get("/api/v1/me", headers=bearer(rotated)).status_code == 401
    assert issuer.jwks_fetches == 1
    monkeypatch.setattr(oidc, "REFETCH_MIN_S", 0.0)
    assert api.get("/api/v1/me", headers=bearer(rotated)).status_code == 200
    assert issuer.jwks_fetches == 2
    # ES256 is the new key's algorithm: the same key announced as RS256 in a token is refused.
    mismatched = jwt.encode(
        {"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60, **roles("admin")},
        issuer.keys["k1"],
        algorithm="RS256",
        headers={"kid": "k2"},
    )
    assert api.get("/api/v1/me", headers=bearer(mismatched)).status_code == 401


@pytest.fixture
def silent_issuer() -> Iterator[str]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_an_issuer_that_does_not_answer_is_503_within_the_time_out(
    tmp_path: Path, silent_issuer: str
) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        oidc_issuer=silent_issuer,
        oidc_audience=AUDIENCE,
        oidc_timeout_s=0.5,
        api_token="bootstrap-t0ken-3e",
    )
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"iss": silent_issuer, "aud": AUDIENCE, "exp": int(time.time()) + 60}, rs, "RS256")
    for client in local_client(settings):
        started = time.monotonic()
        response = client.get("/api/v1/source", headers=bearer(token))
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < 5
        # The bootstrap token does not depend on the issuer.
        assert client.get("/api/v1/source", headers=bearer("bootstrap-t0ken-3e")).status_code == 200


@pytest.mark.parametrize(
    "issuer_url",
    ["http://sso.example/realms/x", "ftp://127.0.0.1/x", "https://sso.example/?a=1", "sso.example"],
)
def test_an_issuer_is_https_or_loopback_http(tmp_path: Path, issuer_url: str) -> None:
    with pytest.raises(ValidationError):
        make_settings(tmp_path, "sqlite:///x.db", oidc_issuer=issuer_url, oidc_audience=AUDIENCE)


def test_an_issuer_needs_an_audience(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="oidc_audience"):
        make_settings(tmp_path, "sqlite:///x.db", oidc_issuer="https://sso.example/realms/x")
    ok = make_settings(
        tmp_path, "sqlite:///x.db", oidc_issuer="https://sso.example/realms/x/", oidc_audience="a"
    )
    assert ok.oidc_issuer == "https://sso.example/realms/x" and ok.authenticates()


def test_no_sso_token_in_the_trail_a_log_line_or_an_answer(
    api: TestClient, issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Good and refused tokens alike: the trail names who, the logs and answers say why, never with it."""
    caplog.set_level("DEBUG")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    good = issuer.token(preferred_username="ada", **roles("admin"))
    tokens = [
        good,
        issuer.token(**roles("viewer")),
        issuer.token(exp=now - 120, **roles("admin")),
        issuer.token(aud="another-service", **roles("admin")),
        issuer.token(key=stranger, **roles("admin")),
        _none_token(issuer),
    ]
    answers = [
        api.get("/api/v1/source", headers=bearer(tokens[0])),
        api.post("/api/v1/group", json={"name": "g"}, headers=bearer(tokens[1])),  # 403
        *(api.post("/api/v1/group", json={"name": "g"}, headers=bearer(t)) for t in tokens[2:]),  # 401
    ]
    assert [a.status_code for a in answers] == [200, 403, 401, 401, 401, 401]
    trail = api.get("/api/v1/audit", headers=bearer(good))
    assert [e["result"] for e in trail.json()] == ["refused"] * 5
    seen = "\n".join([trail.text, caplog.text, *(f"{a.headers} {a.text}" for a in answers)])
    for token in tokens:
        for part in (token, token.rsplit(".", 1)[1] or token.split(".")[1]):
            assert part not in seen
