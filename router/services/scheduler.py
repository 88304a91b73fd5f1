"""The cron scheduler: fires each due tick exactly once, however many router replicas run.

One transaction claims due crons with `FOR UPDATE SKIP LOCKED`, creates each tick's run through
the normal creation path (`runs.create_locked`) and advances `next_run_date`; so a tick's run and
the cron's move past it commit together or not at all, and no two replicas hold the same cron.
Between passes it sleeps until the earliest `next_run_date` (no polling floor), woken early when
this replica creates or changes a cron; `scheduler_max_sleep_seconds` bounds how late it notices
crons written by other replicas.

Catch-up, as the official scheduler: ticks missed while no scheduler ran fire once, at once, and
the next tick is the first one after that moment (missed ticks are not replayed one by one).
A tick whose run is refused (a busy thread under `reject`, a deleted assistant) is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime

from pydantic import ValidationError

from router import errors, tenancy
from router.services import crons as crons_service
from router.services import runs as runs_service
from router.services.context import Services
from router.store import crons as crons_store

log = logging.getLogger(__name__)

ERROR_RETRY_SECONDS = 1.0


async def fire_due(services: Services) -> int:
    """Fire every due tick (up to `scheduler_batch`); returns how many crons it handled."""
    created: list[tuple[str, runs_service.LockedRun]] = []
    async with services.pool.acquire() as conn, conn.transaction():
        rows = await crons_store.claim_due(conn, services.settings.scheduler_batch)
        for row in rows:
            cron_id = str(row["cron_id"])
            thread_id = str(row["thread_id"]) if row["thread_id"] is not None else None
            deployment = str(row["deployment_id"])
            try:
                body = crons_service.run_body(row)
                await services.apps.ensure_id(deployment)  # its graphs, if it has its own function service
                with tenancy.acting_for(deployment):  # the tick runs in its cron's deployment
                    run = await runs_service.create_locked(services, conn, body, thread_id=thread_id)
                created.append((deployment, run))
            except (errors.RouterError, ValidationError) as exc:
                log.warning("cron %s: tick of %s skipped: %s", cron_id, row["next_run_date"], exc)
            now: datetime = row["claimed_at"]
            following = crons_service.next_run_after(row["schedule"], row["timezone"], now)
            await crons_store.advance(conn, cron_id, following)
    for deployment, run in created:
        with tenancy.acting_for(deployment):
            await runs_service.announce(services, run)
    return len(rows)


class Scheduler:
    def __init__(self, services: Services) -> None:
        self._s = services
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """A cron was created or changed here: look at the table again now."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cron-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _delay(self) -> float:
        max_sleep = self._s.settings.scheduler_max_sleep_seconds
        next_at, now = await crons_store.next_due(self._s.pool)
        if next_at is None:
            return max_sleep
        return min(max((next_at - now).total_seconds(), 0.0), max_sleep)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                handled = await fire_due(self._s)
                delay = 0.0 if handled >= self._s.settings.scheduler_batch else await self._delay()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cron scheduler pass failed")
                delay = ERROR_RETRY_SECONDS
            if delay > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
