"""Crons in Postgres: CRUD, search, and the scheduler's claim of due ticks.

Invariant: a tick is claimed with `FOR UPDATE SKIP LOCKED` and `next_run_date` is advanced in the
transaction that creates the tick's run, so however many schedulers run, each tick fires once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from router import tenancy
from router.models import Cron
from router.store.pool import Connection, Executor, Pool
from router.store.sql import q

Record = asyncpg.Record

SORT_COLUMNS = frozenset(
    {"cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"}
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_cron(row: Record) -> Cron:
    """The wire shape, in the official field order."""
    return {
        "cron_id": str(row["cron_id"]),
        "assistant_id": str(row["assistant_id"]),
        "thread_id": str(row["thread_id"]) if row["thread_id"] is not None else None,
        "user_id": row["user_id"],
        "end_time": _iso(row["end_time"]),
        "schedule": row["schedule"],
        "timezone": row["timezone"],
        "payload": row["payload"],
        "next_run_date": _iso(row["next_run_date"]),
        "metadata": row["metadata"],
        "on_run_completed": row["on_run_completed"],
        "enabled": row["enabled"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def insert(
    pool: Executor,
    *,
    cron_id: str,
    assistant_id: str,
    thread_id: str | None,
    user_id: str,
    schedule: str,
    timezone: str | None,
    end_time: datetime | None,
    payload: dict[str, Any],
    next_run_date: datetime,
    metadata: dict[str, Any],
    on_run_completed: str | None,
    enabled: bool,
) -> Cron:
    row = await pool.fetchrow(
        q("cron_insert"),
        cron_id,
        assistant_id,
        thread_id,
        user_id,
        schedule,
        timezone,
        end_time,
        payload,
        next_run_date,
        metadata,
        on_run_completed,
        enabled,
    )
    assert row is not None
    return to_cron(row)


async def get(pool: Executor, cron_id: str) -> Cron | None:
    row = await pool.fetchrow(q("cron_get"), cron_id, tenancy.deployment_id())
    return to_cron(row) if row is not None else None


async def lock(conn: Connection, cron_id: str) -> Record | None:
    """The cron row, locked until the transaction ends (a tick being fired holds the same lock)."""
    return await conn.fetchrow(q("cron_lock"), cron_id, tenancy.deployment_id())


async def update(
    conn: Connection,
    cron_id: str,
    *,
    schedule: str,
    timezone: str | None,
    end_time: datetime | None,
    payload: dict[str, Any],
    next_run_date: datetime,
    metadata: dict[str, Any],
    on_run_completed: str | None,
    enabled: bool,
) -> Cron:
    row = await conn.fetchrow(
        q("cron_update"),
        cron_id,
        schedule,
        timezone,
        end_time,
        payload,
        next_run_date,
        metadata,
        on_run_completed,
        enabled,
        tenancy.deployment_id(),
    )
    assert row is not None
    return to_cron(row)


async def delete(pool: Executor, cron_id: str) -> bool:
    return await pool.fetchval(q("cron_delete"), cron_id, tenancy.deployment_id()) is not None


async def search(
    pool: Pool,
    *,
    assistant_id: str | None,
    thread_id: str | None,
    enabled: bool | None,
    metadata: dict[str, Any] | None,
    sort_by: str,
    sort_order: str,
    limit: int,
    offset: int,
    auth: list[dict[str, Any]] | None = None,
) -> list[Cron]:
    if sort_by not in SORT_COLUMNS or sort_order not in ("asc", "desc"):
        raise ValueError(f"cannot sort crons by {sort_by} {sort_order}")
    rows = await pool.fetch(
        q("cron_search"),
        assistant_id,
        thread_id,
        enabled,
        metadata,
        sort_by,
        sort_order,
        limit,
        offset,
        tenancy.deployment_id(),
        auth,
    )
    return [to_cron(r) for r in rows]


async def count(
    pool: Pool,
    *,
    assistant_id: str | None,
    thread_id: str | None,
    metadata: dict[str, Any] | None,
    auth: list[dict[str, Any]] | None = None,
) -> int:
    value: int = await pool.fetchval(
        q("cron_count"), assistant_id, thread_id, metadata, tenancy.deployment_id(), auth
    )
    return value


async def claim_due(conn: Connection, limit: int) -> list[Record]:
    """Due enabled crons, locked for this transaction (rows `claimed_at` carries the DB's now)."""
    return list(await conn.fetch(q("cron_claim_due"), limit))


async def advance(conn: Connection, cron_id: str, next_run_date: datetime) -> None:
    await conn.execute(q("cron_advance"), cron_id, next_run_date)


async def next_due(pool: Pool) -> tuple[datetime | None, datetime]:
    """(earliest next_run_date of an enabled cron or None, the database's now)."""
    row = await pool.fetchrow(q("cron_next_due"))
    assert row is not None
    return row["next_run_date"], row["now"]
