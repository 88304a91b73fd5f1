"""The dispatcher: claims runnable runs and executes each by one CloudEvent to the function service.

Woken by events, never by a polling floor: a local kick when this process creates a run or records an
outcome, a Redis sentinel from any replica, or the timer of the next `after_seconds` run. Each claimed
run holds a lease renewed while its CloudEvent is in flight; a lost lease (the reaper handed the run
to someone else) aborts the call, which tells the function to stop that attempt.

A function service that cannot be reached at all (nothing listens yet: a pod starting, a process
restarting) has run nothing, so that costs the run no attempt: it goes back to pending and is
dispatched again after a growing delay, the way Knative's activator holds requests while it scales.
A call that reached the function and then broke (the function died) is a used attempt. A run whose
function stays unreachable for `function_unreachable_give_up_seconds` ends `error` (counted per
router process, from the first failed connection it saw for that run).

Shutdown (`stop`): no more claims; runs in flight get `drain_seconds` to finish; the rest are
stopped (dropping the connection stops the attempt in the function) and handed back at once, pending
again after `HAND_BACK_DELAY_SECONDS` for another replica, their attempt counted as used so the next
one resumes from the last checkpoint, instead of waiting for their lease to expire.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import suppress
from typing import Any

from redis.exceptions import RedisError

from contracts import runtime
from router import errors, metrics
from router.queue import signals
from router.services import outcomes
from router.services.context import Services
from router.store import runs as runs_store
from router.store.pool import StoreError

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 30.0  # upper bound between looks when nothing wakes us (safety net, not a floor)
WAKE_BLOCK_SECONDS = 5.0
UNREACHABLE_FIRST_DELAY_SECONDS = 0.2  # then doubled per consecutive failure to connect...
UNREACHABLE_MAX_DELAY_SECONDS = 5.0  # ...up to this
UNREACHABLE_TRACKED_MAX = 10_000  # bound on remembered failure counts (forgotten counts restart at 0)
HAND_BACK_DELAY_SECONDS = 1.0  # time for a function to stop an attempt whose dispatcher went away


def build_request(services: Services, row: runs_store.Record) -> runtime.RunRequest:
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
        deployment_id=str(row["deployment_id"]),
    )


class Dispatcher:
    def __init__(self, services: Services) -> None:
        self._s = services
        self._owner = f"router-{uuid.uuid4().hex[:12]}"
        self._wanted = asyncio.Event()
        self._next_at: float | None = None  # epoch seconds when the earliest delayed run is due
        self._slots = asyncio.Semaphore(services.settings.dispatch_concurrency)
        self._tasks: dict[asyncio.Task[None], runs_store.Record] = {}  # in flight → its run
        self._loops: list[asyncio.Task[None]] = []
        # run id → (consecutive failures to connect, monotonic time of the first)
        self._unreachable: dict[str, tuple[int, float]] = {}

    def kick(self, at: float | None = None) -> None:
        """Look for runnable runs now; `at` (epoch seconds) also arms the timer for a run due later."""
        if at is not None and at > time.time():
            self._next_at = at if self._next_at is None else min(self._next_at, at)
        self._wanted.set()

    @property
    def owner(self) -> str:
        return self._owner

    async def reserve(self) -> bool:
        if self._slots.locked():
            return False
        await self._slots.acquire()  # returns at once: a slot is free
        return True

    def release(self) -> None:
        self._slots.release()

    def start_run(self, row: runs_store.Record) -> None:
        self._spawn(row)

    def _spawn(self, row: runs_store.Record) -> None:
        task = asyncio.create_task(self._execute(row), name=f"run-{row['run_id']}")
        self._tasks[task] = row
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="dispatcher-claim"),
            asyncio.create_task(self._wake_loop(), name="dispatcher-wake"),
        ]
        self.kick()

    async def stop(self, *, drain_seconds: float = 0.0) -> None:
        """Stop claiming; give runs in flight `drain_seconds`, then hand the rest back."""
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with suppress(asyncio.CancelledError):
                await task
        if self._tasks and drain_seconds > 0:
            await asyncio.wait(set(self._tasks), timeout=drain_seconds)
        left = dict(self._tasks)
        for task in left:
            task.cancel()
        for task in left:
            with suppress(asyncio.CancelledError):
                await task
        handed_back = 0
        for row in left.values():
            try:
                handed_back += await self._hand_back(row)
            except (OSError, StoreError):
                log.exception("could not hand back run %s; its lease will expire", row["run_id"])
        if handed_back:
            with suppress(OSError, RedisError):
                await signals.wake(self._s.redis, self._s.keys, time.time() + HAND_BACK_DELAY_SECONDS)

    async def _hand_back(self, row: runs_store.Record) -> bool:
        run_id, attempt = str(row["run_id"]), row["attempt"]
        if attempt >= self._s.settings.max_attempts:
            reason = f"the router stopped during attempt {attempt} of {self._s.settings.max_attempts}"
            await outcomes.give_up(self._s, row, reason)
            return False
        if not await runs_store.requeue(self._s.pool, run_id, attempt, HAND_BACK_DELAY_SECONDS):
            return False
        log.warning("run %s attempt %s stopped by shutdown; handed back", run_id, attempt)
        metrics.RUN_ATTEMPTS_RETRIED.labels("router_shutdown").inc()
        return True

    async def _wake_loop(self) -> None:
        while True:
            try:
                woke, at = await signals.wait_wake(self._s.redis, self._s.keys, WAKE_BLOCK_SECONDS)
                if woke:
                    self.kick(at)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("waiting for wake-ups failed; retrying")
                await asyncio.sleep(1.0)

    async def _claim_loop(self) -> None:
        rearm = True  # read the next due time from Postgres at start-up
        while True:
            try:
                if rearm:
                    self._next_at = await self._next_due()
                rearm = await self._wait_for_work()
                await self._claim_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming runs failed; retrying")
                await asyncio.sleep(0.5)
                rearm = True
                self.kick()

    async def _next_due(self) -> float | None:
        nxt = await runs_store.next_available_at(self._s.pool)
        return None if nxt is None else nxt.timestamp()

    async def _wait_for_work(self) -> bool:
        """Wait for a kick or the timer; True when the timer (or the idle bound) fired, so the next
        due time must be read again from Postgres after this pass."""
        timeout = IDLE_WAIT_SECONDS
        if self._next_at is not None:
            timeout = min(timeout, max(0.0, self._next_at - time.time()))
        try:
            await asyncio.wait_for(self._wanted.wait(), timeout=timeout)
        except TimeoutError:
            self._next_at = None
            return True
        finally:
            self._wanted.clear()
        return False

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
            self._spawn(row)

    async def _execute(self, row: runs_store.Record) -> None:
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

    async def _execute_attempt(self, row: runs_store.Record) -> None:
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
            if isinstance(exc, errors.FunctionNotReachedError):
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

    async def _renew(self, row: runs_store.Record, call: asyncio.Task[runtime.RunOutcome]) -> bool:
        """Renew the lease while the call runs; on losing it, abort the call and return True."""
        period = self._s.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                ours, _ = await runs_store.renew_lease(
                    self._s.pool, str(row["run_id"]), row["attempt"], self._s.settings.lease_seconds
                )
            except (OSError, StoreError):
                log.warning("renewing the lease of run %s failed; will retry", row["run_id"])
                continue
            if not ours:
                call.cancel()
                return True

    async def _release(self, row: runs_store.Record, exc: errors.FunctionError) -> None:
        """The function service was not reachable: pending again, later, with the attempt given back;
        `error` once it has been unreachable for `function_unreachable_give_up_seconds`."""
        run_id = str(row["run_id"])
        now = time.monotonic()
        failures, since = self._unreachable.pop(run_id, (0, now))
        give_up_after = self._s.settings.function_unreachable_give_up_seconds
        if now - since >= give_up_after:
            reason = f"function service unreachable for {give_up_after:g} s ({exc.message})"
            await outcomes.give_up(self._s, row, reason)
            return
        if len(self._unreachable) >= UNREACHABLE_TRACKED_MAX:
            self._unreachable.clear()
        self._unreachable[run_id] = (failures + 1, since)
        delay = min(UNREACHABLE_MAX_DELAY_SECONDS, UNREACHABLE_FIRST_DELAY_SECONDS * 2 ** min(failures, 16))
        log.warning(
            "run %s: function service unreachable (%s); dispatching it again in %.1fs",
            run_id,
            exc.message,
            delay,
        )
        if await runs_store.release(self._s.pool, run_id, row["attempt"], delay):
            metrics.RUN_ATTEMPTS_RETRIED.labels("function_unreachable").inc()
            self.kick(time.time() + delay)

    async def _retry_or_fail(self, row: runs_store.Record, reason: str) -> None:
        if row["attempt"] < self._s.settings.max_attempts:
            log.warning("run %s attempt %s failed (%s); retrying", row["run_id"], row["attempt"], reason)
            if await runs_store.requeue(self._s.pool, str(row["run_id"]), row["attempt"]):
                metrics.RUN_ATTEMPTS_RETRIED.labels("function_failed").inc()
                self.kick()
            return
        await outcomes.give_up(
            self._s, row, f"{reason} (attempt {row['attempt']} of {self._s.settings.max_attempts})"
        )
