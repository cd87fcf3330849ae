"""Tickets of the live WebSocket: one use, short-lived, naming who asked, signed with a key the
replicas share."""

from __future__ import annotations

from pydantic import SecretStr

from controlplane.auth.principal import BOOTSTRAP, ActorKind, Principal
from controlplane.auth.roles import Role
from controlplane.services import live_tickets
from controlplane.settings import Settings


def make_settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_a_ticket_opens_once_and_only_until_it_expires() -> None:
    settings = make_settings(api_token=SecretStr("t0ken-for-tickets"))
    now = 1_800_000_000.0
    first, second = live_tickets.issue(settings, BOOTSTRAP, now), live_tickets.issue(settings, BOOTSTRAP, now)
    assert live_tickets.redeem(settings, first.ticket, now + 1) == BOOTSTRAP
    assert not live_tickets.redeem(settings, first.ticket, now + 2)  # used up
    assert not live_tickets.redeem(settings, second.ticket, now + live_tickets.TICKET_TTL_S + 1)  # expired
    assert "t0ken" not in first.ticket


def test_another_replica_takes_the_ticket_and_another_deployment_does_not() -> None:
    ours = make_settings(api_token=SecretStr("t0ken-a"))
    replica = make_settings(api_token=SecretStr("t0ken-a"))
    theirs = make_settings(api_token=SecretStr("t0ken-b"))
    assert live_tickets.redeem(replica, live_tickets.issue(ours, BOOTSTRAP).ticket)
    assert not live_tickets.redeem(theirs, live_tickets.issue(ours, BOOTSTRAP).ticket)
    # Without the bootstrap token (single sign-on), the shared agents key signs them.
    sso = make_settings(agents_key=SecretStr("agents-key-1"))
    sso_replica = make_settings(agents_key=SecretStr("agents-key-1"))
    viewer = Principal(ActorKind.SSO, "alice", Role.VIEWER)
    assert live_tickets.redeem(sso_replica, live_tickets.issue(sso, viewer).ticket) == viewer


def test_forged_and_malformed_tickets_are_refused() -> None:
    settings = make_settings(api_token=SecretStr("t0ken-a"))
    expires, nonce, who, signature = live_tickets.issue(settings, BOOTSTRAP).ticket.split(".")
    for bad in (
        "",
        "x",
        "1.2.3",
        f"{int(expires) + 100}.{nonce}.{signature}",
        f"{expires}.{nonce}x.{signature}",
        "²." + nonce + "." + signature,
        "9" * 300,
    ):
        assert not live_tickets.redeem(settings, bad), bad
