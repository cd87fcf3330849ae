"""Users' keys at rest: an Argon2id hash (a password-hashing library, as the issue asks), checked once
per process and remembered, never the key or its SHA-256; rows of the SHA-256 era keep working."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from controlplane.auth import keys
from controlplane.auth.roles import Role
from controlplane.db import make_engine, make_sessionmaker
from controlplane.models import User
from controlplane.settings import Settings
from tests.conftest import local_client, make_settings
from videorec_testing.accounts import add_users, bearer

BOOTSTRAP = "bootstrap-t0ken-k3y"


async def _rows(settings: Settings) -> dict[str, User]:
    engine = make_engine(settings.resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session:
            return {u.name: u for u in (await session.exec(select(User))).all()}
    finally:
        await engine.dispose()


async def _insert(settings: Settings, row: User) -> None:
    engine = make_engine(settings.resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session:
            session.add(row)
            await session.commit()
    finally:
        await engine.dispose()


def test_a_key_is_stored_as_an_argon2id_hash(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP)
    key = add_users(settings, {"olga": Role.OPERATOR})["olga"]
    key_id, secret = key.split(".")[1:]
    row = asyncio.run(_rows(settings))["olga"]
    assert row.key_id == key_id
    assert row.key_hash.startswith("$argon2id$"), row.key_hash
    assert PasswordHasher().verify(row.key_hash, secret)
    assert secret not in row.key_hash and keys.digest(secret) != row.key_hash
    for client in local_client(settings):
        assert client.get("/api/v1/me", headers=bearer(key)).json()["name"] == "olga"


def test_a_key_is_hashed_once_per_process_and_a_wrong_secret_every_time(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 is slow on purpose: a console polling with one key must not pay it on every request."""
    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP)
    key = add_users(settings, {"vera": Role.VIEWER})["vera"]
    checked: list[str] = []
    plain_matches = keys.matches

    def counting(secret: str, key_hash: str) -> bool:
        checked.append(secret)
        return plain_matches(secret, key_hash)

    monkeypatch.setattr(keys, "matches", counting)
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")  # the right key id
    for client in local_client(settings):
        for _ in range(5):
            assert client.get("/api/v1/me", headers=bearer(key)).status_code == 200
        assert len(checked) == 1
        for _ in range(2):
            assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401
        assert len(checked) == 3  # a wrong secret is never taken for the remembered one
        assert client.get("/api/v1/me", headers=bearer(key)).status_code == 200
        assert len(checked) == 3


def test_a_key_of_the_sha256_era_keeps_working(tmp_path: Path, database_url: str) -> None:
    """Rows written before keys were hashed with Argon2 hold the SHA-256 of the secret."""
    settings = make_settings(tmp_path, database_url, api_token=BOOTSTRAP)
    add_users(settings, {})  # migrates
    secret = "s" * 43
    old = User(name="old", role=Role.ADMIN, key_id="0123456789abcdef", key_hash=keys.digest(secret))
    asyncio.run(_insert(settings, old))
    for client in local_client(settings):
        assert client.get("/api/v1/me", headers=bearer(f"vru1.0123456789abcdef.{secret}")).status_code == 200
        assert (
            client.get("/api/v1/me", headers=bearer(f"vru1.0123456789abcdef.{'t' * 43}")).status_code == 401
        )


def test_the_verified_keys_remembered_are_bounded() -> None:
    made = [keys.new_key() for _ in range(3)]
    verifier = keys.KeyVerifier(size=2)

    async def check_all() -> list[bool]:
        return [await verifier.matches(k.key_id, k.key.rsplit(".", 1)[1], k.key_hash) for k in made]

    assert asyncio.run(check_all()) == [True, True, True]
    assert len(verifier._verified) == 2
