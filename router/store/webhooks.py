"""The webhook outbox in Postgres: rows written with a run's outcome, claimed by deliverers.

Invariants: a claim counts the attempt and hides the row for longer than one attempt may take, so
two deliverers never call the same webhook at once; results are fenced by (delivery_id, attempts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from router import tenancy
from router.store.pool import Connection, Executor, Pool
from router.store.sql import q

Record = asyncpg.Record


async def enqueue(
    conn: Connection, *, delivery_id: str, run_id: str, thread_id: str, url: str, payload: dict[str, Any]
) -> None:
    await conn.execute(q("webhook_enqueue"), delivery_id, run_id, thread_id, url, payload)


async def claim_due(pool: Pool, *, limit: int, hide_seconds: float) -> list[Record]:
    """Up to `limit` due deliveries, each counted as one more attempt and hidden `hide_seconds`."""
    return list(await pool.fetch(q("webhook_claim_due"), limit, hide_seconds))


async def mark_delivered(pool: Executor, delivery_id: str, attempt: int, *, status_code: int) -> None:
    await pool.execute(q("webhook_mark_delivered"), delivery_id, attempt, status_code)


async def mark_failed(
    pool: Executor,
    delivery_id: str,
    attempt: int,
    *,
    error: str,
    status_code: int | None,
    retry_in_seconds: float,
    give_up: bool,
) -> None:
    await pool.execute(
        q("webhook_mark_failed"), delivery_id, attempt, error, status_code, retry_in_seconds, give_up
    )


async def next_due(pool: Pool) -> tuple[datetime | None, datetime]:
    """(earliest next attempt of a pending delivery or None, the database's now)."""
    row = await pool.fetchrow(q("webhook_next_due"))
    assert row is not None
    return row["next_attempt_at"], row["now"]


async def list_for_run(pool: Executor, run_id: str) -> list[Record]:
    return list(await pool.fetch(q("webhook_list_for_run"), run_id, tenancy.deployment_id()))
