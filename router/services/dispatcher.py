"""The dispatcher: claims runnable runs and executes each by one CloudEvent to the function service.

Woken by events, never by a polling floor: a local kick when this process creates a run or records an
outcome, a Redis sentinel from any replica, or the timer of the next `after_seconds` run. Each claimed
run holds a lease renewed while its CloudEvent is in flight; a lost lease (the reaper handed the run
to someone else) aborts the call, which tells the function to stop that attempt.

A function service that cannot be reached at all (nothing listens yet: a pod starting, a process
restarting) has run nothing, so that costs the run no attempt: it goes back to pending and is
dispatched again after a growing delay, the way Knative's activator holds requests while it scales.
A call that reached the function and then broke (the function died) is a used attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from contracts import runtime
from router import errors, metrics
from router.queue import signals
from router.services import outcomes
from router.services.context import Services
from router.store import runs as runs_store

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 30.0  # upper bound between looks when nothing wakes us (safety net, not a floor)
WAKE_BLOCK_SECONDS = 5.0
UNREACHABLE_FIRST_DELAY_SECONDS = 0.2  # then doubled per consecutive failure to connect...
UNREACHABLE_MAX_DELAY_SECONDS = 5.0  # ...up to this
UNREACHABLE_TRACKED_MAX = 10_000  # bound on remembered failure counts (forgotten counts restart at 0)


def never_delivered(exc: errors.FunctionError) -> bool:
    """True when the request did not reach the function service (no connection could be opened)."""
    return isinstance(exc, errors.FunctionUnavailableError) and isinstance(
        exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
    )


def build_request(services: Services, row: asyncpg.Record) -> runtime.RunRequest:
    kw: dict[str, Any] = row["kwargs"]
    config = dict(kw.get("config") or {})
    config["metadata"] = {**(config.get("metadata") or {}), "run_attempt": row["attempt"]}
    return runtime.RunRequest(
        run_id=str(row["run_id"]),
        thread_id=str(row["thread_id"]),
        assistant_id=str(row["assistant_id"]),
        graph_id=row["graph_id"],
        attempt=row["attempt"],
        input=kw.get("input"),
        command=kw.get("command"),
        config=config,
        context=kw.get("context") or None,
        stream_mode=kw.get("stream_mode") or ["values"],
        stream_subgraphs=bool(kw.get("subgraphs")),
        stream_resumable=bool(kw.get("resumable")),
        resumable_ttl_seconds=services.settings.resumable_stream_ttl_seconds,
        interrupt_before=kw.get("interrupt_before"),
        interrupt_after=kw.get("interrupt_after"),
        checkpoint=kw.get("checkpoint"),
        durability=kw.get("durability") or "async",
        timeout_seconds=services.settings.run_timeout_seconds,
        redis_prefix=services.settings.redis_prefix,
    )


class Dispatcher:
    def __init__(self, services: Services) -> None:
        self._s = services
        self._owner = f"router-{uuid.uuid4().hex[:12]}"
        self._wanted = asyncio.Event()
        self._slots = asyncio.Semaphore(services.settings.dispatch_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._unreachable: dict[str, int] = {}  # run id → consecutive failures to connect

    def kick(self) -> None:
        self._wanted.set()

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="dispatcher-claim"),
            asyncio.create_task(self._wake_loop(), name="dispatcher-wake"),
        ]
        self.kick()

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with suppress(asyncio.CancelledError):
                await task

    async def _wake_loop(self) -> None:
        while True:
            try:
                if await signals.wait_wake(self._s.redis, self._s.keys, WAKE_BLOCK_SECONDS):
                    self.kick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("waiting for wake-ups failed; retrying")
                await asyncio.sleep(1.0)

    async def _claim_loop(self) -> None:
        while True:
            await self._wait_for_work()
            try:
                await self._claim_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming runs failed; retrying")
                await asyncio.sleep(0.5)
                self.kick()

    async def _wait_for_work(self) -> None:
        timeout = IDLE_WAIT_SECONDS
        nxt = await runs_store.next_available_at(self._s.pool)
        if nxt is not None:
            timeout = min(timeout, max(0.0, (nxt - datetime.now(UTC)).total_seconds()))
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wanted.wait(), timeout=timeout)
        self._wanted.clear()

    async def _claim_all(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                row = await runs_store.claim(
                    self._s.pool, owner=self._owner, lease_seconds=self._s.settings.lease_seconds
                )
            except BaseException:
                self._slots.release()
                raise
            if row is None:
                self._slots.release()
                return
            task = asyncio.create_task(self._execute(row), name=f"run-{row['run_id']}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, row: asyncpg.Record) -> None:
        metrics.RUNS_IN_FLIGHT.inc()
        try:
            await self._execute_attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run %s attempt %s failed in the dispatcher", row["run_id"], row["attempt"])
        finally:
            metrics.RUNS_IN_FLIGHT.dec()
            self._slots.release()

    async def _execute_attempt(self, row: asyncpg.Record) -> None:
        if row["cancel_action"] is not None:  # cancelled while it waited for a (new) attempt
            outcome = runtime.RunOutcome(
                run_id=str(row["run_id"]),
                attempt=row["attempt"],
                status="interrupted",
                cancel_action=row["cancel_action"],
            )
            await outcomes.record(self._s, row, outcome)
            return
        request = build_request(self._s, row)
        started = time.monotonic()
        call = asyncio.create_task(self._s.functions.run(request))
        renew = asyncio.create_task(self._renew(row, call))
        try:
            outcome = await call
        except asyncio.CancelledError:
            if not (renew.done() and not renew.cancelled() and renew.result()):
                raise
            log.warning("run %s attempt %s lost its lease; abandoned", row["run_id"], row["attempt"])
            return
        except errors.FunctionError as exc:
            if never_delivered(exc):
                await self._release(row, exc)
                return
            self._unreachable.pop(str(row["run_id"]), None)
            await self._retry_or_fail(row, f"function service failed: {exc.message}")
            return
        except errors.RouterError as exc:
            # The function answered FAILED with a 4xx (say, a graph it does not have). Left uncaught,
            # the run would sit `running` until its lease ran out, once per attempt.
            self._unreachable.pop(str(row["run_id"]), None)
            await self._retry_or_fail(row, f"function service refused the run: {exc.message}")
            return
        except ValueError as exc:  # the reply was not a RunOutcome
            self._unreachable.pop(str(row["run_id"]), None)
            await self._retry_or_fail(row, f"function service answered with no valid outcome: {exc}")
            return
        finally:
            renew.cancel()
            with suppress(asyncio.CancelledError):
                await renew
        self._unreachable.pop(str(row["run_id"]), None)
        await outcomes.record(self._s, row, outcome)
        labels = (row["graph_id"], outcome.status)
        metrics.RUN_DURATION.labels(*labels).observe(time.monotonic() - started)

    async def _renew(self, row: asyncpg.Record, call: asyncio.Task[runtime.RunOutcome]) -> bool:
        """Renew the lease while the call runs; on losing it, abort the call and return True."""
        period = self._s.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                ours, _ = await runs_store.renew_lease(
                    self._s.pool, str(row["run_id"]), row["attempt"], self._s.settings.lease_seconds
                )
            except (OSError, asyncpg.PostgresError):
                log.warning("renewing the lease of run %s failed; will retry", row["run_id"])
                continue
            if not ours:
                call.cancel()
                return True

    async def _release(self, row: asyncpg.Record, exc: errors.FunctionError) -> None:
        """The function service was not reachable: pending again, later, with the attempt given back."""
        run_id = str(row["run_id"])
        failures = self._unreachable.pop(run_id, 0)
        if len(self._unreachable) >= UNREACHABLE_TRACKED_MAX:
            self._unreachable.clear()
        self._unreachable[run_id] = failures + 1
        delay = min(UNREACHABLE_MAX_DELAY_SECONDS, UNREACHABLE_FIRST_DELAY_SECONDS * 2 ** min(failures, 16))
        log.warning(
            "run %s: function service unreachable (%s); dispatching it again in %.1fs",
            run_id,
            exc.message,
            delay,
        )
        if await runs_store.release(self._s.pool, run_id, row["attempt"], delay):
            metrics.RUN_ATTEMPTS_RETRIED.labels("function_unreachable").inc()
            self.kick()  # recompute the timer of the next available run

    async def _retry_or_fail(self, row: asyncpg.Record, reason: str) -> None:
        if row["attempt"] < self._s.settings.max_attempts:
            log.warning("run %s attempt %s failed (%s); retrying", row["run_id"], row["attempt"], reason)
            if await runs_store.requeue(self._s.pool, str(row["run_id"]), row["attempt"]):
                metrics.RUN_ATTEMPTS_RETRIED.labels("function_failed").inc()
                self.kick()
            return
        await outcomes.give_up(
            self._s, row, f"{reason} (attempt {row['attempt']} of {self._s.settings.max_attempts})"
        )
