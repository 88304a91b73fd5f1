"""A2A tasks in Postgres: the runs of an assistant, as `ListTasks` pages through them."""

from __future__ import annotations

from typing import Literal

from router import tenancy
from router.store.pool import Executor
from router.store.runs import Record
from router.store.sql import q

InterruptedFilter = Literal["any", "cancelled", "paused"]


async def list_page(
    pool: Executor,
    assistant_id: str,
    *,
    thread_id: str | None,
    statuses: list[str] | None,
    interrupted: InterruptedFilter,
    limit: int,
    offset: int,
) -> list[Record]:
    rows = await pool.fetch(
        q("task_list"),
        assistant_id,
        thread_id,
        statuses,
        interrupted,
        limit,
        offset,
        tenancy.deployment_id(),
    )
    return list(rows)


async def count(
    pool: Executor,
    assistant_id: str,
    *,
    thread_id: str | None,
    statuses: list[str] | None,
    interrupted: InterruptedFilter,
) -> int:
    total = await pool.fetchval(
        q("task_count"), assistant_id, thread_id, statuses, interrupted, tenancy.deployment_id()
    )
    return int(total or 0)
