"""CloudEvents triggers in Postgres: event subscriptions, and the record of events received.

Invariant: an event's (source, id) row is inserted in the transaction that creates its runs, under a
unique constraint, so however many routers receive the same event at once, exactly one creates runs
and the others read what it recorded once it commits.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from router import tenancy
from router.store.pool import Connection, Executor
from router.store.sql import q

Record = asyncpg.Record

FILTER_COLUMNS = ("event_type", "source", "source_prefix", "subject", "subject_prefix")
MUTABLE_COLUMNS = (
    "assistant_id",
    *FILTER_COLUMNS,
    "input",
    "thread_mode",
    "thread_id",
    "multitask_strategy",
    "config",
    "context",
    "metadata",
    "webhook",
    "enabled",
)


def to_subscription(row: Record) -> dict[str, Any]:
    """The wire shape (docs/events.md)."""
    return {
        "subscription_id": str(row["subscription_id"]),
        "assistant_id": str(row["assistant_id"]),
        "filter": {
            "type": row["event_type"],
            "source": row["source"],
            "source_prefix": row["source_prefix"],
            "subject": row["subject"],
            "subject_prefix": row["subject_prefix"],
        },
        "input": row["input"],
        "thread_mode": row["thread_mode"],
        "thread_id": str(row["thread_id"]) if row["thread_id"] is not None else None,
        "multitask_strategy": row["multitask_strategy"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "webhook": row["webhook"],
        "enabled": row["enabled"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def insert(pool: Executor, subscription_id: str, fields: dict[str, Any]) -> Record:
    """`fields` has every name of MUTABLE_COLUMNS."""
    row = await pool.fetchrow(
        q("event_subscription_insert"), subscription_id, *(fields[c] for c in MUTABLE_COLUMNS)
    )
    assert row is not None
    return row


async def get(pool: Executor, subscription_id: str) -> Record | None:
    return await pool.fetchrow(q("event_subscription_get"), subscription_id, tenancy.deployment_id())


async def lock(conn: Connection, subscription_id: str) -> Record | None:
    return await conn.fetchrow(q("event_subscription_lock"), subscription_id, tenancy.deployment_id())


async def update(conn: Connection, subscription_id: str, fields: dict[str, Any]) -> Record:
    row = await conn.fetchrow(
        q("event_subscription_update"),
        subscription_id,
        *(fields[c] for c in MUTABLE_COLUMNS),
        tenancy.deployment_id(),
    )
    assert row is not None
    return row


async def delete(pool: Executor, subscription_id: str) -> bool:
    return (
        await pool.fetchval(q("event_subscription_delete"), subscription_id, tenancy.deployment_id())
        is not None
    )


async def list_subscriptions(
    pool: Executor, *, assistant_id: str | None, limit: int, offset: int
) -> list[Record]:
    return list(
        await pool.fetch(q("event_subscription_list"), assistant_id, limit, offset, tenancy.deployment_id())
    )


async def matching(conn: Connection, *, event_type: str, source: str, subject: str | None) -> list[Record]:
    return list(
        await conn.fetch(q("event_subscription_match"), event_type, source, subject, tenancy.deployment_id())
    )


async def claim_delivery(
    conn: Connection, *, source: str, event_id: str, event_type: str, subject: str | None
) -> bool:
    """True on the first sight of (source, id); False if it was received before (waits for a
    concurrent first sight to end)."""
    found = await conn.fetchval(
        q("event_delivery_claim"), source, event_id, event_type, subject, tenancy.deployment_id()
    )
    return found is not None


async def get_delivery(pool: Executor, *, source: str, event_id: str) -> Record | None:
    return await pool.fetchrow(q("event_delivery_get"), source, event_id, tenancy.deployment_id())


async def set_delivery_runs(
    conn: Connection, *, source: str, event_id: str, runs: list[dict[str, str]]
) -> None:
    await conn.execute(q("event_delivery_set_runs"), source, event_id, runs, tenancy.deployment_id())
