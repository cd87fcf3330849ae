"""Each agent's own credential: a token bound to its name (and its site), derived from the control
plane's agent key.

- `vra2.<name>.<site>.<mac>`, mac = HMAC-SHA256(key, "agent-site:" name LF site): issued by
  `enrol-agent NAME --site SITE`. The site is the admin's word: a heartbeat naming another site is
  refused, so a stolen token cannot draw another site's cameras (and their passwords) to itself.
- `vra1.<name>.<mac>`, mac = HMAC-SHA256(key, "agent:" name): the older form (and `enrol-agent NAME`
  without --site). Still valid, bound to the site its agent first reported (the agents table keeps
  it); once a name has presented a vra2 token, its vra1 token is refused.

Any replica checks a token with the key alone (no token table to keep in step); a stolen token lets
its holder act only as that one agent, and revoking the name (a row in the database) ends it for
every replica at once. A revoked name stays revoked: the admin enrols the host again under a new
name, so an old token can never come back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

PREFIX = "vra1"
SITE_PREFIX = "vra2"
# What an agent name or a site may be (the heartbeat's own pattern): no LF, so the MAC's input
# `name LF site` has one reading.
LABEL = re.compile(r"[A-Za-z0-9._-]{1,128}")
_LF = "\n"


@dataclass(frozen=True)
class AgentIdentity:
    """What a valid token proves."""

    name: str
    site: str | None  # the site the token binds its agent to; None for a vra1 token


def _mac(key: str, message: str) -> str:
    mac = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_for(key: str, name: str, site: str | None = None) -> str:
    if site is None:
        return f"{PREFIX}.{name}.{_mac(key, 'agent:' + name)}"
    return f"{SITE_PREFIX}.{name}.{site}.{_mac(key, 'agent-site:' + name + _LF + site)}"


def identity_of(key: str, token: str) -> AgentIdentity | None:
    """Who a token was issued to, or None when it was not issued with this key."""
    prefix, _, rest = token.partition(".")
    middle, _, _mac_part = rest.rpartition(".")
    if prefix == PREFIX and middle:
        return AgentIdentity(middle, None) if hmac.compare_digest(token_for(key, middle), token) else None
    if prefix != SITE_PREFIX or len(middle) > 257:
        return None
    # Names and sites may both hold dots, so `name.site` splits several ways; the MAC covers an
    # unambiguous encoding of the pair, so at most one split verifies (at most 256 to try).
    for at, char in enumerate(middle):
        if char != ".":
            continue
        name, site = middle[:at], middle[at + 1 :]
        labels = LABEL.fullmatch(name) and LABEL.fullmatch(site)
        if labels and hmac.compare_digest(token_for(key, name, site), token):
            return AgentIdentity(name, site)
    return None
