"""Who is calling: an Authenticator turns a request's headers into a Principal, or refuses.

`ApiKeyAuthenticator` checks LangOpen API keys sent as `X-Api-Key` (with or without
`X-Auth-Scheme: langsmith-api-key`, which the official SDKs and Studio send). Custom auth from
langgraph.json (`auth.path`) is another Authenticator: it yields a Principal whose `identity` is the
user its `@auth.authenticate` handler returned, and its `@auth.on` filters apply where services read
and search (see docs/auth.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts.auth import AuthUser
from router import errors
from router.auth import keys
from router.auth.permissions import Permission, Role, is_allowed
from router.store import accounts
from router.store.pool import Pool

API_KEY_HEADER = "x-api-key"
AUTH_SCHEME_HEADER = "x-auth-scheme"
LANGSMITH_API_KEY_SCHEME = "langsmith-api-key"
MISSING_HEADERS = "Missing authentication headers"  # the official server's words
INVALID_KEY = "Invalid token"  # the official LangSmith auth backend's words (auth/langsmith/backend.py)


@dataclass(frozen=True)
class Principal:
    identity: str
    """Who: `key:<prefix>` for an API key (the prefix is public), the user id for custom auth."""
    role: Role
    project_id: str | None
    """The project whose deployments the principal may use (None: any, i.e. auth is off)."""
    key_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    auth_user: AuthUser | None = None
    """Set when custom auth (langgraph.json `auth.path`) or its studio path authenticated the caller:
    the user its `@auth.on` handlers see and its runs carry."""

    def may(self, permission: Permission) -> bool:
        return is_allowed(self.role, permission)


ANONYMOUS = Principal(identity="anonymous", role=Role.ADMIN, project_id=None)
"""The caller when auth is off (`langopen dev` without `--auth`): may do everything."""


class Authenticator(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller, or raise UnauthorizedError."""
        ...


class KeyRefusedError(errors.UnauthorizedError):
    """Invalid token"""

    def __init__(self, prefix: str | None) -> None:
        super().__init__(INVALID_KEY)
        self.prefix = prefix


class ApiKeyAuthenticator:
    def __init__(self, pool: Pool, *, last_used_resolution_seconds: float) -> None:
        self._pool = pool
        self._resolution = last_used_resolution_seconds

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        presented = headers.get(API_KEY_HEADER)
        if not presented:
            raise errors.UnauthorizedError(MISSING_HEADERS)
        parts = keys.split(presented.strip())
        if parts is None:
            raise KeyRefusedError(None)
        prefix, secret = parts
        stored = await accounts.key_by_prefix(self._pool, prefix)
        # Hash and compare even when no key has this prefix, so both cases take the same time.
        expected = stored.secret_hash if stored is not None else keys.hash_secret("")
        if not keys.matches(secret, expected) or stored is None or not stored.usable:
            raise KeyRefusedError(prefix)
        await accounts.touch_key(self._pool, stored.key_id, resolution_seconds=self._resolution)
        return Principal(
            identity=f"key:{prefix}",
            role=Role(stored.role),
            project_id=stored.project_id,
            key_id=stored.key_id,
        )
