"""Organizations, projects, deployments, API keys (only their SHA-256 digests) and the append-only
audit log, in Postgres."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from router.store.pool import Executor
from router.store.sql import q

Record = asyncpg.Record


@dataclass(frozen=True)
class Deployment:
    deployment_id: str
    name: str
    project_id: str
    org_id: str
    function_url: str | None = None
    """Its own function service at this URL (docs/decisions/0012); None: see `agent_deployment`."""
    agent_deployment: str | None = None
    """Its own function service, the AgentDeployment of this name; both None: the router's own."""

    @property
    def own_function(self) -> bool:
        return self.function_url is not None or self.agent_deployment is not None


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    project_id: str
    org_id: str
    prefix: str
    secret_hash: bytes
    role: str
    usable: bool


async def create_org(pool: Executor, name: str) -> Record | None:
    """The new organization, or None when the name is taken."""
    return await pool.fetchrow(q("org_insert"), uuid.uuid4(), name)


async def org_by_name(pool: Executor, name: str) -> Record | None:
    return await pool.fetchrow(q("org_by_name"), name)


async def create_project(pool: Executor, org_id: str, name: str) -> Record | None:
    """The new project, or None when the organization has one of that name."""
    return await pool.fetchrow(q("project_insert"), uuid.uuid4(), org_id, name)


async def projects_by_name(pool: Executor, name: str) -> list[Record]:
    return list(await pool.fetch(q("projects_by_name"), name))


async def create_deployment(
    pool: Executor,
    project_id: str,
    name: str,
    *,
    function_url: str | None = None,
    agent_deployment: str | None = None,
) -> Record | None:
    """The new deployment, or None when the name is taken."""
    return await pool.fetchrow(
        q("deployment_insert"), uuid.uuid4(), project_id, name, function_url, agent_deployment
    )


def _deployment(row: Record | None) -> Deployment | None:
    if row is None:
        return None
    return Deployment(
        deployment_id=str(row["deployment_id"]),
        name=row["name"],
        project_id=str(row["project_id"]),
        org_id=str(row["org_id"]),
        function_url=row["function_url"],
        agent_deployment=row["agent_deployment"],
    )


async def deployment_by_name(pool: Executor, name: str) -> Deployment | None:
    return _deployment(await pool.fetchrow(q("deployment_by_name"), name))


async def deployment_by_id(pool: Executor, deployment_id: str) -> Deployment | None:
    return _deployment(await pool.fetchrow(q("deployment_by_id"), deployment_id))


async def move_deployment(pool: Executor, name: str, project_id: str) -> bool:
    return await pool.fetchrow(q("deployment_move"), name, project_id) is not None


async def create_key(
    pool: Executor,
    *,
    project_id: str,
    prefix: str,
    secret_hash: bytes,
    role: str,
    name: str,
    expires_at: datetime | None,
) -> Record:
    row = await pool.fetchrow(
        q("api_key_insert"), uuid.uuid4(), project_id, prefix, secret_hash, role, name, expires_at
    )
    assert row is not None
    return row


async def key_by_prefix(pool: Executor, prefix: str) -> StoredKey | None:
    row = await pool.fetchrow(q("api_key_by_prefix"), prefix)
    if row is None:
        return None
    return StoredKey(
        key_id=str(row["key_id"]),
        project_id=str(row["project_id"]),
        org_id=str(row["org_id"]),
        prefix=row["prefix"],
        secret_hash=bytes(row["secret_hash"]),
        role=row["role"],
        usable=row["usable"],
    )


async def touch_key(pool: Executor, key_id: str, *, resolution_seconds: float) -> None:
    await pool.execute(q("api_key_touch"), key_id, resolution_seconds)


async def revoke_key(pool: Executor, key_id_or_prefix: str) -> Record | None:
    return await pool.fetchrow(q("api_key_revoke"), key_id_or_prefix)


async def append_audit(
    pool: Executor,
    *,
    action: str,
    outcome: str,
    actor: str,
    key_id: str | None,
    project_id: str | None,
    deployment_id: str | None,
    target: str | None,
    client: str | None,
    details: dict[str, Any],
) -> int:
    value: int = await pool.fetchval(
        q("audit_insert"), action, outcome, actor, key_id, project_id, deployment_id, target, client, details
    )
    return value
