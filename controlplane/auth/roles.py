"""Roles, permissions, and the one table that says which role holds which permission.

Roles are nested (a viewer's permissions are an operator's, an operator's are an admin's), so the
table names the lowest role that holds each permission. Each route declares one permission
(api/access.py: `dependencies=[Requires(Permission.X)]`); docs/roles.md shows this same table."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # watches, plays back and downloads
    OPERATOR = "operator"  # and records, syncs, protects tags
    ADMIN = "admin"  # and everything else: sources, groups, deleting files, agents, users, the audit


class Permission(StrEnum):
    READ = "read"  # lists and objects of every kind, the caller's own session
    SNAPSHOT = "snapshot"  # a camera's picture now; the self-check picture and video
    LIVE = "live"  # a camera's live view (audited when opened)
    DOWNLOAD = "download"  # a record's bytes, or a signed URL to them (audited)
    RECORD = "record"  # start and stop recording a tag
    SYNC = "sync"  # start copying a tag's records elsewhere
    PROTECT_TAG = "protect_tag"  # keep a tag's records from retention
    UNPROTECT_TAG = "unprotect_tag"  # let retention have them again
    MANAGE_SOURCES = "manage_sources"  # create, change and delete sources and groups
    DELETE_FILES = "delete_files"  # delete a record's file
    MANAGE_AGENTS = "manage_agents"  # revoke an agent
    MANAGE_USERS = "manage_users"  # users and their keys
    READ_AUDIT = "read_audit"  # the audit trail
    IMPORT = "import"  # receive another deployment's records (its sync holds an admin's key)


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

# THE table: the lowest role that holds each permission.
LOWEST_ROLE: dict[Permission, Role] = {
    Permission.READ: Role.VIEWER,
    Permission.SNAPSHOT: Role.VIEWER,
    Permission.LIVE: Role.VIEWER,
    Permission.DOWNLOAD: Role.VIEWER,
    Permission.RECORD: Role.OPERATOR,
    Permission.SYNC: Role.OPERATOR,
    Permission.PROTECT_TAG: Role.OPERATOR,
    Permission.UNPROTECT_TAG: Role.ADMIN,
    Permission.MANAGE_SOURCES: Role.ADMIN,
    Permission.DELETE_FILES: Role.ADMIN,
    Permission.MANAGE_AGENTS: Role.ADMIN,
    Permission.MANAGE_USERS: Role.ADMIN,
    Permission.READ_AUDIT: Role.ADMIN,
    Permission.IMPORT: Role.ADMIN,
}
assert set(LOWEST_ROLE) == set(Permission), "every permission has its row"

# Reads that leave a trace: who watched a camera, who took a copy of a record.
AUDITED_READS = frozenset({Permission.LIVE, Permission.DOWNLOAD})


def holds(role: Role | None, permission: Permission) -> bool:
    return role is not None and _RANK[role] >= _RANK[LOWEST_ROLE[permission]]


def permissions_of(role: Role | None) -> list[Permission]:
    return [p for p in Permission if holds(role, p)]


def highest(names: list[str]) -> Role | None:
    """The highest role among names (a token's claim may carry several); None when none is a role."""
    roles = [Role(n) for n in names if n in Role._value2member_map_]
    return max(roles, key=_RANK.__getitem__) if roles else None
