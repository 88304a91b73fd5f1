"""Webhooks: the URL check when a run or cron names one, the outbox row written with a run's
outcome, and the deliverer that calls them.

The outbox row is written in the transaction that records the outcome, so a recorded run always
owes its call and a call is never owed for an outcome that rolled back. Any replica's deliverer
claims due rows (`FOR UPDATE SKIP LOCKED`), calls them with bounded concurrency and a timeout, and
records each attempt; failures retry with exponential backoff up to `webhook_max_attempts`.
Delivery is at-least-once (a deliverer that dies mid-call leaves the row due again): receivers
can deduplicate on the `X-LangOpen-Delivery` header.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import orjson

from contracts.runtime import RunOutcome
from router.dispatch import webhooks as webhook_calls
from router.services.context import Services
from router.store import runs as runs_store
from router.store import webhooks as store
from router.store.pool import Connection

log = logging.getLogger(__name__)

ERROR_RETRY_SECONDS = 1.0
HIDE_MARGIN_SECONDS = 10.0
"""A claimed row stays hidden for the call's timeout plus DNS plus this margin."""


def check_url(services: Services, url: str) -> None:
    """Refuse (422 naming `webhook`) a URL the `webhooks.url` policy does not allow."""
    webhook_calls.check_url(url, services.webhooks.url)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def payload_for(run: runs_store.Record, outcome: RunOutcome) -> dict[str, Any]:
    """What the receiver gets, as the official server sends it: the run, its final status and
    values, start and end times, and the error if it failed (`webhook_sent_at` is added per call).
    `run_started_at` is when the run became runnable (its `available_at`)."""
    body: dict[str, Any] = {
        **runs_store.to_run(run),
        "status": run["status"],
        "run_started_at": _iso(run["available_at"]),
        "run_ended_at": _iso(run["updated_at"]),
        "values": outcome.values,
    }
    if outcome.error is not None:
        body["error"] = outcome.error.model_dump()
    return body


async def enqueue(conn: Connection, run: runs_store.Record, outcome: RunOutcome) -> bool:
    """Write the outbox row for a finished run that names a webhook (inside the outcome's
    transaction); False when it names none."""
    url = run["kwargs"].get("webhook")
    if not url:
        return False
    await store.enqueue(
        conn,
        delivery_id=str(uuid.uuid4()),
        run_id=str(run["run_id"]),
        thread_id=str(run["thread_id"]),
        url=url,
        payload=payload_for(run, outcome),
    )
    return True


def backoff_seconds(services: Services, attempt: int) -> float:
    """Wait after failed attempt `attempt` (1-based): base · 2^(attempt-1), capped."""
    settings = services.settings
    return float(
        min(settings.webhook_backoff_seconds * 2 ** (attempt - 1), settings.webhook_backoff_max_seconds)
    )


class Deliverer:
    """Calls due outbox rows; sleeps until the earliest retry is due or a new row is committed."""

    def __init__(self, services: Services, client: webhook_calls.WebhookClient) -> None:
        self._s = services
        self._client = client
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def kick(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-deliverer")

    async def stop(self) -> None:
        """Stop claiming; give calls in flight their timeout, then cancel them (their rows come
        due again once hidden time passes)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=self._s.settings.webhook_timeout_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._claim()
                delay = await self._delay()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery pass failed")
                delay = ERROR_RETRY_SECONDS
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _free_slots(self) -> int:
        return self._s.settings.webhook_concurrency - len(self._inflight)

    async def _claim(self) -> None:
        free = self._free_slots()
        if free <= 0:
            return
        settings = self._s.settings
        hide = settings.webhook_timeout_seconds + webhook_calls.RESOLVE_TIMEOUT_SECONDS + HIDE_MARGIN_SECONDS
        for row in await store.claim_due(self._s.pool, limit=free, hide_seconds=hide):
            task = asyncio.create_task(self._deliver(row), name=f"webhook-{row['delivery_id']}")
            self._inflight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free

    async def _delay(self) -> float:
        max_sleep = self._s.settings.webhook_max_sleep_seconds
        if self._free_slots() <= 0:
            return max_sleep  # woken when a call ends
        next_at, now = await store.next_due(self._s.pool)
        if next_at is None:
            return max_sleep
        return min(max((next_at - now).total_seconds(), 0.0), max_sleep)

    async def _deliver(self, row: store.Record) -> None:
        delivery_id, attempt = str(row["delivery_id"]), row["attempts"]
        body = orjson.dumps({**row["payload"], "webhook_sent_at": datetime.now(UTC).isoformat()})
        result = await self._client.post(row["url"], body, delivery_id=delivery_id)
        try:
            if result.ok:
                assert result.status_code is not None
                await store.mark_delivered(self._s.pool, delivery_id, attempt, status_code=result.status_code)
                return
            give_up = result.permanent or attempt >= self._s.settings.webhook_max_attempts
            await store.mark_failed(
                self._s.pool,
                delivery_id,
                attempt,
                error=result.error or "failed",
                status_code=result.status_code,
                retry_in_seconds=backoff_seconds(self._s, attempt),
                give_up=give_up,
            )
        except Exception:
            # the row comes due again when its hidden time passes
            log.exception("recording webhook attempt %s of delivery %s failed", attempt, delivery_id)
            return
        level = logging.ERROR if give_up else logging.WARNING
        log.log(
            level,
            "webhook %s attempt %d failed (run %s): %s%s",
            row["url"],
            attempt,
            row["run_id"],
            result.error,
            " — giving up" if give_up else "",
        )
