"""The lease reaper: runs whose lease expired (their router or function died) go back to pending
for another attempt, or end `error` with a reason once they used `max_attempts`. Runs on every
replica; `FOR UPDATE SKIP LOCKED` keeps replicas from reaping the same run twice. Each pass also
applies thread TTLs (`ttl` on thread create and patch).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from router import metrics
from router.services import outcomes
from router.services import threads as threads_service
from router.services.context import Services
from router.store import runs as runs_store

log = logging.getLogger(__name__)

REAP_BATCH = 100


async def reap_once(services: Services) -> int:
    """One pass; returns how many runs it handled."""
    handled = 0
    give_up = []
    async with services.pool.acquire() as conn, conn.transaction():
        for row in await runs_store.expired_leases(conn, REAP_BATCH):
            handled += 1
            if row["attempt"] < services.settings.max_attempts:
                await runs_store.requeue(conn, str(row["run_id"]), row["attempt"])
                metrics.RUN_ATTEMPTS_RETRIED.labels("lease_expired").inc()
            else:
                give_up.append(row)
    for row in give_up:
        await outcomes.give_up(
            services, row, f"lease expired on attempt {row['attempt']} of {services.settings.max_attempts}"
        )
    if handled:
        log.warning("reaper handled %d runs with expired leases", handled)
        services.kick_dispatcher()
    return handled


class Reaper:
    def __init__(self, services: Services) -> None:
        self._s = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="reaper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await reap_once(self._s)
                await threads_service.sweep_expired(self._s, limit=REAP_BATCH)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reaper pass failed")
            await asyncio.sleep(self._s.settings.reaper_interval_seconds)
