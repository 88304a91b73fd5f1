"""Assistants and their versions in Postgres.

Invariants: an assistant's current fields always equal one row of `assistant_versions` (the
version it points at); creating writes version 1, an update writes max(version) + 1 under the
assistant's row lock, so concurrent updates get distinct version numbers.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from router import tenancy
from router.models import Assistant, AssistantVersion
from router.store.pool import Connection, Pool
from router.store.sql import q

Record = asyncpg.Record

SORT_COLUMNS = frozenset({"assistant_id", "graph_id", "name", "created_at", "updated_at"})


def to_assistant(row: Record) -> Assistant:
    return {
        "assistant_id": str(row["assistant_id"]),
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "name": row["name"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "version": row["version"],
        "description": row["description"],
    }


def to_version(row: Record) -> AssistantVersion:
    return {
        "assistant_id": str(row["assistant_id"]),
        "version": row["version"],
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "created_at": row["created_at"].isoformat(),
        "name": row["name"],
        "description": row["description"],
    }


async def insert_system(pool: Pool, assistants: list[tuple[str, str]]) -> int:
    """Insert the (assistant_id, graph_id) system assistants that do not exist; return how many were new."""
    status = await pool.execute(
        q("assistant_insert_system"),
        [a for a, _ in assistants],
        [g for _, g in assistants],
        tenancy.deployment_id(),
    )
    return int(status.rsplit(" ", 1)[-1])


async def insert(
    pool: Pool,
    *,
    assistant_id: str,
    graph_id: str,
    config: dict[str, Any],
    context: dict[str, Any],
    metadata: dict[str, Any],
    name: str,
    description: str | None,
) -> Assistant | None:
    """The new assistant (and its version 1), or None when `assistant_id` exists already."""
    row = await pool.fetchrow(
        q("assistant_insert"),
        assistant_id,
        graph_id,
        config,
        context,
        metadata,
        name,
        description,
        tenancy.deployment_id(),
    )
    return to_assistant(row) if row is not None else None


async def get(pool: Pool | Connection, assistant_id: str, *, graph_ids: list[str]) -> Assistant | None:
    """The assistant, if it belongs to one of `graph_ids` (the graphs this deployment serves)."""
    row = await pool.fetchrow(q("assistant_get"), assistant_id, graph_ids, tenancy.deployment_id())
    return to_assistant(row) if row is not None else None


async def exists(pool: Pool, assistant_id: str) -> bool:
    return await pool.fetchval(q("assistant_exists"), assistant_id, tenancy.deployment_id()) is not None


async def update(
    pool: Pool,
    assistant_id: str,
    *,
    graph_id: str | None,
    config: dict[str, Any] | None,
    context: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    name: str | None,
    description: str | None,
) -> Assistant | None:
    """Write version N+1 from the given fields (None keeps the current value; metadata is merged)
    and make it current. None when the assistant does not exist."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchrow(q("assistant_lock"), assistant_id, tenancy.deployment_id()) is None:
            return None
        row = await conn.fetchrow(
            q("assistant_update"), assistant_id, graph_id, config, context, metadata, name, description
        )
    assert row is not None  # the row is locked by this transaction
    return to_assistant(row)


async def set_latest(pool: Pool, assistant_id: str, version: int) -> Assistant | None:
    """Make stored `version` current; None when the assistant or that version does not exist."""
    row = await pool.fetchrow(q("assistant_set_latest"), assistant_id, version, tenancy.deployment_id())
    return to_assistant(row) if row is not None else None


async def list_versions(
    pool: Pool, assistant_id: str, *, metadata: dict[str, Any] | None, limit: int, offset: int
) -> list[AssistantVersion]:
    """Versions newest first, optionally only those whose metadata contains `metadata`."""
    rows = await pool.fetch(
        q("assistant_versions"), assistant_id, metadata, limit, offset, tenancy.deployment_id()
    )
    return [to_version(r) for r in rows]


async def delete(pool: Pool, assistant_id: str) -> bool:
    """Delete the assistant and its versions; False when it did not exist."""
    return await pool.fetchval(q("assistant_delete"), assistant_id, tenancy.deployment_id()) is not None


async def search(
    pool: Pool,
    *,
    graph_ids: list[str],
    graph_id: str | None,
    name: str | None,
    metadata: dict[str, Any] | None,
    sort_by: str,
    sort_order: str,
    limit: int,
    offset: int,
    auth: list[dict[str, Any]] | None = None,
) -> list[Assistant]:
    if sort_by not in SORT_COLUMNS or sort_order not in ("asc", "desc"):
        raise ValueError(f"cannot sort assistants by {sort_by} {sort_order}")
    rows = await pool.fetch(
        q("assistant_search"),
        graph_ids,
        graph_id,
        name,
        metadata,
        sort_by,
        sort_order,
        limit,
        offset,
        tenancy.deployment_id(),
        auth,
    )
    return [to_assistant(r) for r in rows]


async def count(
    pool: Pool,
    *,
    graph_ids: list[str],
    graph_id: str | None,
    name: str | None,
    metadata: dict[str, Any] | None,
    auth: list[dict[str, Any]] | None = None,
) -> int:
    value: int = await pool.fetchval(
        q("assistant_count"), graph_ids, graph_id, name, metadata, tenancy.deployment_id(), auth
    )
    return value
