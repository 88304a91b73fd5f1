"""The auth stack the tests of this package share: `python -m router` (which always requires keys)
and a function runtime, over real Postgres and Redis, in a database of its own. Project `default`
owns the default deployment (served at `/`); project `beta` owns deployment `beta` (served at
`/d/beta/`). Every project has a key of every role."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cli import admin
from router.auth.permissions import Role
from router.store import pool as pool_store
from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.stack import APP_CONFIG, Stack

ROLES = [r.value for r in Role]
FAILURE_LIMIT = 30
FAILURE_WINDOW_SECONDS = 3


@dataclass
class Tenants:
    stack: Stack
    dsn: str
    keys: dict[tuple[str, str], str]
    """(project, role) → key."""
    revoked: str
    expired: str


def key(tenants: Tenants, project: str, role: str) -> dict[str, str]:
    """The `X-Api-Key` header of `project`'s key with `role`."""
    return {"X-Api-Key": tenants.keys[(project, role)]}


async def _bootstrap(dsn: str) -> tuple[dict[tuple[str, str], str], str, str]:
    async with (
        pool_store.open_pool(dsn, min_size=1, max_size=1, command_timeout=30) as pool,
        pool.acquire() as conn,
    ):
        await admin.create_project(conn, "default", "beta")
        await admin.create_deployment(conn, "beta", "beta")
        keys = {}
        for project in ("default", "beta"):
            for role in ROLES:
                keys[(project, role)] = (await admin.create_key(conn, project, role))[1]
        revoked_id, revoked = await admin.create_key(conn, "default", "admin")
        await admin.revoke_key(conn, revoked_id)
        _, expired = await admin.create_key(conn, "default", "admin", expires_in=timedelta(seconds=-1))
    return keys, revoked, expired


@contextmanager
def running_tenants(workdir: Path, *, config: Path = APP_CONFIG) -> Iterator[Tenants]:
    """The stack serving the app of `config` (langgraph.json), in a database of its own."""
    with migrated_database("t_auth") as dsn:
        keys, revoked, expired = asyncio.run(_bootstrap(dsn))
        stack = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-auth:{uuid.uuid4().hex[:8]}",
            workdir=workdir,
            router_module="router",
            config=config,
            extra_env={
                "LANGOPEN_AUTH_FAILURES_PER_WINDOW": str(FAILURE_LIMIT),
                "LANGOPEN_AUTH_FAILURE_WINDOW_SECONDS": str(FAILURE_WINDOW_SECONDS),
            },
        )
        try:
            stack.start()
            yield Tenants(stack=stack, dsn=dsn, keys=keys, revoked=revoked, expired=expired)
        finally:
            stack.stop()
