"""Runs in Postgres: creation under the thread lock, claim, lease, outcome, cancel and deletion.

Invariants: a run moves pending → running → terminal; every outcome write is fenced by
(run_id, attempt, status='running'), so a stale attempt can never finish a run; the partial unique
index `runs_one_running_per_thread` keeps at most one running run per thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from router import tenancy
from router.models import Run
from router.store.pool import Connection, Executor, Pool, StoreError
from router.store.sql import q

Record = asyncpg.Record
CLAIM_RETRIES = 5


def to_run(row: Record) -> Run:
    return {
        "run_id": str(row["run_id"]),
        "thread_id": str(row["thread_id"]),
        "assistant_id": str(row["assistant_id"]),
        "metadata": row["metadata"],
        "status": row["status"],
        "kwargs": row["kwargs"],
        "multitask_strategy": row["multitask_strategy"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "langsmith_session_name": None,
    }


async def create(
    conn: Executor,
    *,
    run_id: str,
    thread_id: str,
    assistant_id: str,
    graph_id: str,
    create_thread: dict[str, Any] | None,
    filters: list[dict[str, Any]] | None,
    multitask_strategy: str,
    metadata_head: dict[str, Any],
    metadata_tail: dict[str, Any],
    kwargs: dict[str, Any],
    config_metadata_tail: dict[str, Any],
    after_seconds: float,
    on_completion: str,
    thread_metadata: dict[str, Any],
    claimed_by: str | None = None,
    lease_seconds: float = 0.0,
    assistant_stamp: tuple[int, datetime] | None = None,
) -> Record:
    """Create a run in one statement (`langopen_create_run`, migrations 0006 and 0007): with
    `assistant_stamp` (version, updated_at), check that the assistant is still exactly that; lock the thread (or
    create it with the `create_thread` metadata), check custom auth's `filters`, apply the multitask
    strategy, insert the run. Its metadata is `metadata_head` | the thread's metadata |
    `metadata_tail`, also merged into `kwargs.config.metadata` before `config_metadata_tail`. The
    run is inserted pending, or, when no other run of the thread is pending or running, already
    running as attempt 1 of dispatcher `claimed_by`. The row's `result` is `created` (with the run's
    columns and `inflight`, the unfinished runs the strategy flagged), `busy`, `not_found` or
    `stale_assistant` (nothing written by the last three)."""
    version, updated_at = assistant_stamp or (None, None)
    row = await conn.fetchrow(
        q("run_create"),
        run_id,
        thread_id,
        tenancy.deployment_id(),
        assistant_id,
        graph_id,
        create_thread,
        filters,
        multitask_strategy,
        metadata_head,
        metadata_tail,
        kwargs,
        config_metadata_tail,
        after_seconds,
        on_completion,
        thread_metadata,
        claimed_by,
        lease_seconds,
        version,
        updated_at,
    )
    assert row is not None
    return row


async def get(pool: Executor, run_id: str, thread_id: str) -> Record | None:
    return await pool.fetchrow(q("run_get"), run_id, thread_id, tenancy.deployment_id())


async def list_for_thread(
    pool: Pool, thread_id: str, *, status: str | None, limit: int, offset: int
) -> list[Record]:
    return list(await pool.fetch(q("run_list"), thread_id, status, limit, offset, tenancy.deployment_id()))


async def claim(pool: Pool, *, owner: str, lease_seconds: float) -> Record | None:
    """Claim the oldest runnable pending run (one running run per thread), or None."""
    for _ in range(CLAIM_RETRIES):
        try:
            return await pool.fetchrow(q("run_claim"), owner, lease_seconds)
        except asyncpg.UniqueViolationError:
            continue  # another dispatcher started a run on that thread first; look again
    return None


async def next_available_at(pool: Pool) -> datetime | None:
    value: datetime | None = await pool.fetchval(q("run_next_available_at"))
    return value


async def renew_lease(pool: Pool, run_id: str, attempt: int, lease_seconds: float) -> tuple[bool, str | None]:
    """(still ours, cancel action requested) for a running attempt."""
    try:
        row = await pool.fetchrow(q("run_renew_lease"), run_id, attempt, lease_seconds)
    except asyncpg.PostgresError as exc:
        raise StoreError(str(exc)) from exc
    if row is None:
        return False, None
    return True, row["cancel_action"]


async def finish(
    conn: Connection, run_id: str, attempt: int, *, status: str, output: Any, error: Any
) -> Record | None:
    return await conn.fetchrow(q("run_finish"), run_id, attempt, status, output, error)


async def lock_thread_for_outcome(conn: Connection, thread_id: str) -> bool:
    """Lock the thread of a run about to change state; False if the thread is gone."""
    return await conn.fetchval(q("run_thread_lock_for_outcome"), thread_id) is not None


async def finish_and_settle(
    conn: Executor,
    thread_id: str,
    run_id: str,
    attempt: int,
    *,
    status: str,
    output: Any,
    error: Any,
    thread_status: str,  # used when no other run of the thread is unfinished; else `busy`
    set_values: bool,
    values: Any,
    interrupts: dict[str, Any],
    thread_error: Any,
) -> Record | None:
    """Finish the attempt and update its thread in one statement, under the thread's lock
    (`langopen_finish_run`, migration 0006). None if the attempt is stale; a row with
    `thread_found` false, and nothing written, if the thread is gone."""
    return await conn.fetchrow(
        q("run_finish_and_settle"),
        thread_id,
        run_id,
        attempt,
        status,
        output,
        error,
        thread_status,
        set_values,
        values,
        interrupts,
        thread_error,
    )


async def requeue(pool: Executor, run_id: str, attempt: int, delay_seconds: float = 0.0) -> bool:
    """Pending again (after the delay) for a new attempt; False if the attempt is no longer current."""
    return await pool.fetchval(q("run_requeue"), run_id, attempt, delay_seconds) is not None


async def release(pool: Executor, run_id: str, attempt: int, delay_seconds: float) -> bool:
    """Give back an attempt that never reached a function; the run is pending again after the delay."""
    return await pool.fetchval(q("run_release"), run_id, attempt, delay_seconds) is not None


async def expired_leases(conn: Connection, limit: int) -> list[Record]:
    return list(await conn.fetch(q("run_expired_leases"), limit))


async def thread_has_other_inflight(conn: Connection, thread_id: str, run_id: str) -> bool:
    count: int = await conn.fetchval(q("run_thread_other_inflight"), thread_id, run_id)
    return count > 0


async def set_thread_outcome(
    conn: Connection,
    thread_id: str,
    *,
    status: str,
    values: Any,
    set_values: bool,
    interrupts: dict[str, Any],
    error: Any,
) -> None:
    await conn.execute(q("run_thread_set_outcome"), thread_id, status, values, interrupts, error, set_values)


async def set_thread_status(conn: Connection, thread_id: str, status: str) -> None:
    await conn.execute(q("run_thread_set_status"), thread_id, status)


async def set_cancel_action(conn: Executor, run_id: str, action: str) -> Record | None:
    return await conn.fetchrow(q("run_set_cancel_action"), run_id, action)


async def cancel_pending(conn: Connection, run_id: str, output: Any) -> Record | None:
    return await conn.fetchrow(q("run_cancel_pending"), run_id, output)


async def delete(conn: Executor, run_id: str) -> bool:
    return await conn.fetchval(q("run_delete"), run_id) is not None


async def delete_thread(conn: Executor, thread_id: str) -> None:
    await conn.execute(q("run_delete_thread"), thread_id)


async def delete_checkpoints_of_run(conn: Executor, thread_id: str, run_id: str) -> None:
    await conn.execute(q("run_delete_checkpoints"), thread_id, run_id)


async def select_for_cancel(
    pool: Pool, *, thread_id: str | None, run_ids: list[str] | None, statuses: list[str]
) -> list[Record]:
    return list(
        await pool.fetch(q("run_select_for_cancel"), thread_id, run_ids, statuses, tenancy.deployment_id())
    )


async def unfinished_of_assistant(pool: Executor, assistant_id: str) -> list[Record]:
    return list(await pool.fetch(q("run_unfinished_of_assistant"), assistant_id, tenancy.deployment_id()))


async def thread_snapshot(pool: Executor, thread_id: str) -> Record | None:
    return await pool.fetchrow(q("run_thread_latest_values"), thread_id, tenancy.deployment_id())
