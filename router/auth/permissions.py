"""Roles and permissions: the table docs/auth.md reproduces. Every route of the API declares the one
permission it needs (router.api.auth.require); a role has a permission or it does not."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """What a route needs. `…:read` never changes anything."""

    ASSISTANTS_READ = "assistants:read"
    ASSISTANTS_WRITE = "assistants:write"
    THREADS_READ = "threads:read"
    THREADS_WRITE = "threads:write"
    RUNS_READ = "runs:read"
    RUNS_WRITE = "runs:write"
    CRONS_READ = "crons:read"
    CRONS_WRITE = "crons:write"
    STORE_READ = "store:read"
    STORE_WRITE = "store:write"
    EVENTS_READ = "events:read"
    EVENTS_WRITE = "events:write"
    METRICS_READ = "metrics:read"
    POLICIES_WRITE = "policies:write"
    KEYS_ADMIN = "keys:admin"
    ORG_ADMIN = "org:admin"
    SYSTEM_READ = "system:read"
    """Server info and docs: any authenticated key."""


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    OPERATOR = "operator"
    ADMIN = "admin"


_READ = frozenset(
    {
        Permission.ASSISTANTS_READ,
        Permission.THREADS_READ,
        Permission.RUNS_READ,
        Permission.CRONS_READ,
        Permission.STORE_READ,
        Permission.EVENTS_READ,
        Permission.SYSTEM_READ,
    }
)
_DEVELOP = frozenset(
    {
        Permission.ASSISTANTS_WRITE,
        Permission.THREADS_WRITE,
        Permission.RUNS_WRITE,
        Permission.CRONS_WRITE,
        Permission.STORE_WRITE,
        Permission.EVENTS_WRITE,
    }
)
_OPERATE = frozenset({Permission.METRICS_READ, Permission.POLICIES_WRITE})
_ADMINISTER = frozenset({Permission.KEYS_ADMIN, Permission.ORG_ADMIN})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READ,
    Role.DEVELOPER: _READ | _DEVELOP,
    Role.OPERATOR: _READ | _DEVELOP | _OPERATE,
    Role.ADMIN: _READ | _DEVELOP | _OPERATE | _ADMINISTER,
}


def is_allowed(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
