"""Recording how a run ended: the run row, the thread row (status, values, interrupts, error),
rollback's deletions, stateless clean-up, the webhook outbox row, then the done frames that end
every open stream and wake every waiter. Only the current attempt can record an outcome (fenced in SQL).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from contracts import frames
from contracts.frames import Frame
from contracts.runtime import RunError, RunOutcome
from router import metrics
from router.models import Run
from router.queue import signals
from router.services import webhooks
from router.services.context import Services
from router.store import runs as runs_store
from router.store.pool import Connection, Executor

USER_INTERRUPT = {
    "error": "UserInterrupt",
    "message": "interrupt requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
}


def _merged_interrupts(interrupts: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every pending interrupt, as the official wait/join body lists them under `__interrupt__`:
    `{value, id, response_schema}` (threads and states leave `response_schema` out)."""
    return [
        {"value": item.get("value"), "id": item.get("id"), "response_schema": item.get("response_schema")}
        for items in interrupts.values()
        for item in items
    ]


def run_output(outcome: RunOutcome) -> Any:
    """The body `runs.wait` and `join` return: last values, `__interrupt__` merged in, or `__error__`."""
    if outcome.status in ("error", "timeout") and outcome.error is not None:
        return {"__error__": outcome.error.model_dump()}
    values = outcome.values if outcome.values is not None else {}
    merged = _merged_interrupts(outcome.interrupts)
    if merged and isinstance(values, dict):
        return {**values, "__interrupt__": merged}
    return values


def thread_output(values: Any, status: str, interrupts: dict[str, Any], error: Any) -> Any:
    """Joining a finished run whose own output is gone: the thread's current values."""
    if status == "error" and error:
        return {"__error__": error}
    merged = _merged_interrupts(interrupts or {})
    if status == "interrupted" and merged and isinstance(values, dict):
        return {**values, "__interrupt__": merged}
    return values if values is not None else {}


def _thread_status(outcome: RunOutcome) -> tuple[str, Any]:
    if outcome.cancel_action == "interrupt":
        return "interrupted", USER_INTERRUPT
    if outcome.cancel_action == "rollback":
        return "idle", None
    if outcome.status in ("error", "timeout"):
        return "error", outcome.error.model_dump() if outcome.error else None
    if outcome.interrupts or outcome.next:
        # paused on interrupt(), or stopped by interrupt_before/after with nodes still due
        return "interrupted", None
    return "idle", None


async def record(services: Services, row: runs_store.Record, outcome: RunOutcome) -> Run | None:
    """Record `outcome` for the attempt in `row`; None if that attempt is no longer current.

    The thread is locked first, as run creation does, so the two never wait on each other in
    opposite orders. The common case (no rollback, no clean-up, no webhook) is one statement that
    takes the lock itself; the others run in a transaction.
    """
    run_id, thread_id = str(row["run_id"]), str(row["thread_id"])
    output = run_output(outcome)
    error = outcome.error.model_dump() if outcome.error else None
    finished: runs_store.Record | None = None
    simple = not (outcome.cancel_action == "rollback" or row["on_completion"] == "delete")
    owes_webhook = bool(row["kwargs"].get("webhook"))
    if simple and not owes_webhook:  # the common case: one statement, the lock taken inside it
        finished = await _finish_and_settle(services.pool, thread_id, run_id, outcome, output, error)
        if finished is None:
            return None
    if finished is None or not finished["thread_found"]:
        async with services.pool.acquire() as conn, conn.transaction():
            has_thread = await runs_store.lock_thread_for_outcome(conn, thread_id)
            if has_thread and simple:
                finished = await _finish_and_settle(conn, thread_id, run_id, outcome, output, error)
            else:
                finished = await _record_slow(conn, run_id, thread_id, outcome, output, error)
            if finished is None:
                return None
            # the webhook outbox row commits with the outcome (one INSERT, only when the run has one)
            owes_webhook = await webhooks.enqueue(conn, finished, outcome)
    await publish_done(services, finished, output)
    if owes_webhook:
        services.kick_webhooks()
    if finished.get("thread_has_pending", True):
        # A run queued behind this one can start now. Freed dispatch slots need no kick: the claim
        # loop waits on the slot semaphore.
        services.kick_dispatcher()
    metrics.RUNS_FINISHED.labels(finished["graph_id"], outcome.status).inc()
    return runs_store.to_run(finished)


async def _finish_and_settle(
    conn: Executor, thread_id: str, run_id: str, outcome: RunOutcome, output: Any, error: Any
) -> runs_store.Record | None:
    status, thread_error = _thread_status(outcome)
    return await runs_store.finish_and_settle(
        conn,
        thread_id,
        run_id,
        outcome.attempt,
        status=outcome.status,
        output=output,
        error=error,
        thread_status=status,
        set_values=outcome.values is not None,
        values=outcome.values,
        interrupts=outcome.interrupts,
        thread_error=thread_error,
    )


async def _record_slow(
    conn: Connection, run_id: str, thread_id: str, outcome: RunOutcome, output: Any, error: Any
) -> runs_store.Record | None:
    """Rollback, a stateless run's clean-up, or a thread that is gone."""
    finished = await runs_store.finish(
        conn, run_id, outcome.attempt, status=outcome.status, output=output, error=error
    )
    if finished is None:
        return None
    if outcome.cancel_action == "rollback":
        await runs_store.delete_checkpoints_of_run(conn, thread_id, run_id)
        await runs_store.delete(conn, run_id)
    await _settle_thread(conn, finished, outcome)
    return finished


async def _settle_thread(conn: Connection, run: runs_store.Record, outcome: RunOutcome) -> None:
    thread_id, run_id = str(run["thread_id"]), str(run["run_id"])
    others = await runs_store.thread_has_other_inflight(conn, thread_id, run_id)
    if run["on_completion"] == "delete" and not others:
        await runs_store.delete_thread(conn, thread_id)
        return
    status, thread_error = _thread_status(outcome)
    rolled_back = outcome.cancel_action == "rollback"
    await runs_store.set_thread_outcome(
        conn,
        thread_id,
        status="busy" if others else status,
        values=outcome.values,
        set_values=outcome.values is not None and not rolled_back,
        interrupts=outcome.interrupts if not rolled_back else {},
        error=thread_error,
    )


async def cancel_pending(conn: Connection, row: runs_store.Record, *, action: str) -> runs_store.Record:
    """End a run that never started (inside the caller's transaction); publish with `publish_done`."""
    run_id, thread_id = str(row["run_id"]), str(row["thread_id"])
    if action == "rollback":
        await runs_store.delete(conn, run_id)
        ended = row
    else:
        cancelled = await runs_store.cancel_pending(conn, run_id, {})
        ended = cancelled if cancelled is not None else row
    others = await runs_store.thread_has_other_inflight(conn, thread_id, run_id)
    if not others:
        await runs_store.set_thread_status(conn, thread_id, "idle")
    return ended


async def give_up(services: Services, row: runs_store.Record, reason: str) -> Run | None:
    """A run that ran out of attempts ends `error` with the reason."""
    outcome = RunOutcome(
        run_id=str(row["run_id"]),
        attempt=row["attempt"],
        status="error",
        error=RunError(error="RunAttemptsExhausted", message=reason),
    )
    return await record(services, row, outcome)


async def publish_done(services: Services, run: runs_store.Record, output: Any) -> None:
    run_id, thread_id = str(run["run_id"]), str(run["thread_id"])
    status = "interrupted" if run["status"] == "pending" else run["status"]
    data = orjson.dumps({"status": status, "output": output})
    # Waiters in this process answer now; everyone else hears it through Redis. Yielding once lets
    # the woken waiters write their responses before this task spends a Redis round trip.
    if services.broker.deliver_local(
        services.keys.run_stream_channel(run_id), Frame(frames.DONE_EVENT, data).encode_pubsub()
    ):
        await asyncio.sleep(0)
    await signals.publish_done(
        services.redis,
        services.keys,
        run_id=run_id,
        thread_id=thread_id,
        data=data,
        thread_data=orjson.dumps({"status": "run_done", "run_id": run_id}),
        resumable=bool(run["kwargs"].get("resumable")),
        ttl_seconds=services.settings.resumable_stream_ttl_seconds,
    )
