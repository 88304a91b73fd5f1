"""Threads in Postgres, together with the LangGraph checkpoint rows stored under their id.

Invariants: deleting a thread deletes its checkpoints, blobs and pending writes in the same
statement (its runs go by FK cascade); a copy duplicates the checkpoint rows in one statement, so it
sees one consistent snapshot of the source even while a run writes to it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from router import tenancy
from router.models import Thread
from router.store.pool import Connection, Pool
from router.store.sql import q

Record = asyncpg.Record

SORT_COLUMNS = frozenset({"thread_id", "status", "created_at", "updated_at", "state_updated_at"})


def to_thread(row: Record, *, include_ttl: bool = False) -> Thread:
    """The wire shape; `ttl` only when asked for and set, as the official server does."""
    thread: Thread = {
        "thread_id": str(row["thread_id"]),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "state_updated_at": row["state_updated_at"].isoformat(),
        "metadata": row["metadata"],
        "status": row["status"],
        "config": row["config"],
        "values": row["values"],
        "interrupts": row["interrupts"],
        "error": row["error"],
    }
    if include_ttl and row["ttl_strategy"] is not None:
        expires_at = row["expires_at"]
        thread["ttl"] = {
            "strategy": row["ttl_strategy"],
            "ttl_minutes": row["ttl_minutes"],
            "expires_at": expires_at.isoformat() if expires_at is not None else None,
        }
    return thread


async def insert(
    pool: Pool | Connection,
    thread_id: str,
    *,
    metadata: dict[str, Any],
    ttl_strategy: str | None = None,
    ttl_minutes: float | None = None,
) -> Thread | None:
    """The new thread, or None when `thread_id` exists already."""
    row = await pool.fetchrow(
        q("thread_insert"), thread_id, metadata, ttl_strategy, ttl_minutes, tenancy.deployment_id()
    )
    return to_thread(row) if row is not None else None


async def get(pool: Pool | Connection, thread_id: str, *, include_ttl: bool = False) -> Thread | None:
    row = await pool.fetchrow(q("thread_get"), thread_id, tenancy.deployment_id())
    return to_thread(row, include_ttl=include_ttl) if row is not None else None


async def lock(conn: Connection, thread_id: str) -> Thread | None:
    """The thread, row-locked until the transaction ends (run creation takes the same lock)."""
    row = await conn.fetchrow(q("thread_lock"), thread_id, tenancy.deployment_id())
    return to_thread(row) if row is not None else None


async def patch(
    pool: Pool,
    thread_id: str,
    *,
    metadata: dict[str, Any],
    set_ttl: bool = False,
    ttl_strategy: str | None = None,
    ttl_minutes: float | None = None,
    include_ttl: bool = False,
) -> Thread | None:
    """Merge `metadata`; with `set_ttl`, replace the TTL (counted from now). None if missing."""
    row = await pool.fetchrow(
        q("thread_patch"), thread_id, metadata, set_ttl, ttl_strategy, ttl_minutes, tenancy.deployment_id()
    )
    return to_thread(row, include_ttl=include_ttl) if row is not None else None


async def set_state(
    pool: Pool | Connection, thread_id: str, *, values: Any, interrupts: dict[str, Any], status: str
) -> Thread | None:
    row = await pool.fetchrow(
        q("thread_set_state"), thread_id, values, interrupts, status, tenancy.deployment_id()
    )
    return to_thread(row) if row is not None else None


async def ids_for_assistant(pool: Pool, assistant_id: str) -> list[str]:
    """Threads whose metadata names the assistant (runs record it there)."""
    return [
        str(r["thread_id"])
        for r in await pool.fetch(q("thread_ids_for_assistant"), assistant_id, tenancy.deployment_id())
    ]


async def expired(pool: Pool, *, limit: int) -> list[tuple[str, str, str]]:
    """(thread_id, ttl strategy, deployment_id) of threads, in any deployment, whose TTL passed and
    that are not busy."""
    rows = await pool.fetch(q("thread_expired"), limit)
    return [(r["tid"], r["ttl_strategy"], r["deployment_id"]) for r in rows]


async def rearm_ttl(pool: Pool, thread_ids: list[str]) -> None:
    """Set the next expiry one TTL from now."""
    await pool.execute(q("thread_ttl_rearm"), thread_ids)


async def inflight_runs(pool: Pool | Connection, thread_id: str) -> int:
    value: int = await pool.fetchval(q("thread_inflight_runs"), thread_id, tenancy.deployment_id())
    return value


async def latest_run(pool: Pool | Connection, thread_id: str) -> tuple[str, str] | None:
    """(graph_id, assistant_id) of the thread's newest run, if it has any."""
    row = await pool.fetchrow(q("thread_latest_run"), thread_id, tenancy.deployment_id())
    return (row["graph_id"], str(row["assistant_id"])) if row is not None else None


async def delete_many(pool: Pool | Connection, thread_ids: list[str]) -> list[str]:
    """Delete threads with their checkpoint rows and runs; return the ids that existed."""
    rows = await pool.fetch(q("thread_delete_many"), thread_ids, tenancy.deployment_id())
    return [r["tid"] for r in rows]


async def prune_keep_latest(pool: Pool, thread_ids: list[str]) -> list[str]:
    """Drop every checkpoint but each thread's newest (per namespace); return the ids that exist."""
    rows = await pool.fetch(q("thread_prune_keep_latest"), thread_ids, tenancy.deployment_id())
    return [r["tid"] for r in rows]


async def copy(pool: Pool, thread_id: str, new_thread_id: str) -> Thread | None:
    """Copy the thread row and all its checkpoint rows under `new_thread_id`; None if missing."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(q("thread_copy"), thread_id, new_thread_id, tenancy.deployment_id())
        if row is None:
            return None
        await conn.fetchrow(q("thread_copy_checkpoints"), thread_id, new_thread_id)
    return to_thread(row)


async def storage(pool: Pool, thread_id: str) -> dict[str, Any]:
    """Bytes the thread's checkpoints occupy as stored, per table and per channel."""
    async with pool.acquire() as conn:
        totals = await conn.fetchrow(q("thread_storage_totals"), thread_id)
        channels = await conn.fetch(q("thread_storage_channels"), thread_id)
    assert totals is not None
    by_channel = {r["channel"]: {"versions": r["versions"], "bytes": int(r["bytes"])} for r in channels}
    channel_bytes = sum(c["bytes"] for c in by_channel.values())
    checkpoint_bytes = int(totals["checkpoint_bytes"])
    write_bytes = int(totals["write_bytes"])
    return {
        "total_bytes": checkpoint_bytes + channel_bytes + write_bytes,
        "checkpoints": {"count": totals["checkpoint_count"], "bytes": checkpoint_bytes},
        "channel_values": {
            "count": sum(c["versions"] for c in by_channel.values()),
            "bytes": channel_bytes,
            "by_channel": by_channel,
        },
        "pending_writes": {"count": totals["write_count"], "bytes": write_bytes},
    }


async def search(
    pool: Pool,
    *,
    ids: list[str] | None,
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    status: str | None,
    sort_by: str,
    sort_order: str,
    limit: int,
    offset: int,
    auth: list[dict[str, Any]] | None = None,
) -> list[Thread]:
    if sort_by not in SORT_COLUMNS or sort_order not in ("asc", "desc"):
        raise ValueError(f"cannot sort threads by {sort_by} {sort_order}")
    rows = await pool.fetch(
        q("thread_search"),
        ids,
        metadata,
        values,
        status,
        sort_by,
        sort_order,
        limit,
        offset,
        tenancy.deployment_id(),
        auth,
    )
    return [to_thread(r) for r in rows]


async def count(
    pool: Pool,
    *,
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    status: str | None,
    auth: list[dict[str, Any]] | None = None,
) -> int:
    value: int = await pool.fetchval(
        q("thread_count"), metadata, values, status, tenancy.deployment_id(), auth
    )
    return value
