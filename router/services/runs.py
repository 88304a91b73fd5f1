"""Run orchestration: creation under the thread's row lock with the multitask strategy applied,
listing, cancellation and deletion. Execution is the dispatcher's; outcomes are recorded in
router.services.outcomes.

Creation commits before anything is signalled: the wake sentinel, the local dispatcher kick and
cancel signals for runs the strategy interrupts go out only once the run row exists.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import ids
from router import access, errors, metrics
from router.models import Assistant, Run, is_terminal
from router.queue import signals
from router.requests import RunCreate, RunCreateStateful, RunsCancel
from router.services import assistants as assistants_service
from router.services import outcomes
from router.services import webhooks as webhooks_service
from router.services.context import DispatchHere, Services
from router.store import runs as runs_store
from router.store import threads as threads_store
from router.store.pool import Connection, Executor

THREAD_OR_ASSISTANT_NOT_FOUND = "Thread or assistant not found."
LANGGRAPH_HOST = "self-hosted"
DISPATCH_HEAD_START_TURNS = 3
"""Event-loop turns a creator yields after starting a run's dispatch, so that the CloudEvent to the
function leaves before the creator's own response (the run's execution is on the waiting client's
path, the response headers are not). With aiohttp 3.14 the request is on the wire after two turns
(checked with tcpdump); more or fewer only changes the order of the two writes."""
SUBSCRIBE_TIMEOUT_SECONDS = 10.0  # a caller's Redis subscription, awaited before the run is created


@dataclass(frozen=True)
class CreatedRun:
    run: Run
    resumable: bool
    on_disconnect: str
    started_here: bool = False
    """The run was inserted claimed by this replica's dispatcher and has started in it."""


def _merge_config(assistant: Assistant, body: RunCreate) -> dict[str, Any]:
    base = dict(assistant["config"] or {})
    given = body.config.model_dump(exclude_none=True) if body.config else {}
    config = {**base, **given}
    config["configurable"] = {**(base.get("configurable") or {}), **(given.get("configurable") or {})}
    return config


def _run_kwargs(
    body: RunCreate,
    assistant: Assistant,
    *,
    run_id: str,
    thread_id: str,
    temporary: bool,
) -> dict[str, Any]:
    """The run's kwargs; `config.metadata` holds the assistant's and the request's config metadata,
    into which run creation merges the run's metadata and `langgraph_host` (runs_store.create)."""
    if body.config and body.config.configurable and body.context:
        raise errors.InvalidRequestError(
            "Cannot specify both configurable and context. Prefer setting context alone."
        )
    config = _merge_config(assistant, body)
    user = access.caller()  # the custom-auth user the graph sees (contracts.auth.AuthUser), or None
    config["configurable"].update(
        {
            "langgraph_auth_user": user,
            "langgraph_auth_user_id": user["identity"] if user else "",
            "langgraph_auth_permissions": list(user["permissions"]) if user else [],
            "langgraph_request_id": str(uuid.uuid4()),
            "__request_start_time_ms__": int(time.time() * 1000),
            "__after_seconds__": body.after_seconds,
            "run_id": run_id,
            "thread_id": thread_id,
            "graph_id": assistant["graph_id"],
            "assistant_id": assistant["assistant_id"],
            "user_id": user["identity"] if user else "",
        }
    )
    config["metadata"] = dict(config.get("metadata") or {})
    checkpoint = body.checkpoint.model_dump(exclude_none=True) if body.checkpoint else None
    if body.checkpoint_id:
        checkpoint = {**(checkpoint or {}), "checkpoint_id": body.checkpoint_id}
    return {
        "input": body.input,
        "command": body.command.model_dump(exclude_unset=True) if body.command else None,
        "config": config,
        "context": {**(assistant["context"] or {}), **(body.context or {})},
        "stream_mode": body.stream_modes(),
        "interrupt_before": body.interrupt_before,
        "interrupt_after": body.interrupt_after,
        "webhook": body.webhook,
        "feedback_keys": None,
        "temporary": temporary,
        "subgraphs": body.stream_subgraphs,
        "resumable": body.stream_resumable,
        "checkpoint_during": body.durability_mode() != "exit",
        "durability": body.durability_mode(),
        "checkpoint": checkpoint,
    }


async def _insert(
    services: Services,
    conn: Executor,
    body: RunCreate,
    assistant: Assistant,
    *,
    thread_id: str,
    run_id: str,
    strategy: str,
    if_not_exists: str,
    on_completion: str,
    stateless: bool,
    claimed_by: str | None,
    thread_filters: access.Filters | None = None,
    assistant_stamp: tuple[int, datetime] | None = None,
) -> tuple[runs_store.Record, list[str]]:
    """Lock (or create) the thread, apply the multitask strategy and insert the run (claimed by
    `claimed_by` when nothing else of the thread is unfinished), in one statement. Returns the run
    and the runs the strategy flagged for cancellation."""
    thread_meta = {"graph_id": assistant["graph_id"], "assistant_id": assistant["assistant_id"]}
    create_thread: dict[str, Any] | None = None
    if if_not_exists == "create":
        # A custom-auth caller's thread carries the run's metadata (the owner its handler added), as
        # the official server creates it.
        create_thread = (
            {**thread_meta, **(body.metadata or {})} if access.active() is not None else thread_meta
        )
    # The run's metadata is the assistant's, the thread's, the request's, then the graph and
    # assistant ids; the statement merges in the thread's, which only it reads.
    kwargs = _run_kwargs(body, assistant, run_id=run_id, thread_id=thread_id, temporary=stateless)
    row = await runs_store.create(
        conn,
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=assistant["assistant_id"],
        graph_id=assistant["graph_id"],
        create_thread=create_thread,
        filters=thread_filters,
        multitask_strategy=strategy,
        metadata_head=dict(assistant["metadata"] or {}),
        metadata_tail={**(body.metadata or {}), **thread_meta},
        kwargs=kwargs,
        config_metadata_tail={"langgraph_host": LANGGRAPH_HOST},
        after_seconds=body.after_seconds,
        on_completion=on_completion,
        thread_metadata=thread_meta,
        claimed_by=claimed_by,
        lease_seconds=services.settings.lease_seconds,
        assistant_stamp=assistant_stamp,
    )
    if row["result"] == "stale_assistant":
        raise StaleAssistantError()
    if row["result"] == "not_found":
        raise errors.NotFoundError(THREAD_OR_ASSISTANT_NOT_FOUND)
    if row["result"] == "busy":
        raise errors.ThreadBusyError()
    return row, [str(i) for i in row["inflight"]]


class StaleAssistantError(Exception):
    """The assistant changed after this replica cached it; nothing was written."""


async def create(
    services: Services,
    body: RunCreate,
    *,
    thread_id: str | None,
    run_id: str | None = None,
    subscribe: Callable[[], Awaitable[Any]] | None = None,
    done_only: bool = False,
) -> CreatedRun:
    """Create a run on `thread_id` (None: a stateless run on a new temporary thread).

    `subscribe()` (the caller's subscription to the run's channel, confirmed by Redis) is awaited
    before the run commits, so it precedes any frame of the run. `done_only`: the caller needs only
    the run's done frame and is a local subscriber (Broker.deliver_local); when this replica's
    dispatcher reserved a slot for the run, its done frame will be delivered in this process, so
    `subscribe` is not called. If the run then started here (`CreatedRun.started_here`), the caller
    needs no Redis subscription at all; if not (the thread was busy: the run waits in the queue,
    another replica may run it an attempt or more later), the caller subscribes then.

    The assistant comes from this replica's cache, checked by the creating statement; if it changed
    since, it is read again and the creation starts over (with the copy just read, unchecked, as
    before there was a cache: the read and the insert were never one transaction)."""
    stateless = thread_id is None
    if stateless and body.command is not None and body.command.resume is not None:
        raise errors.InvalidRequestError("You must provide a thread_id when resuming.")
    if body.webhook is not None:
        webhooks_service.check_url(services, body.webhook)
    run_id = run_id or str(ids.uuid7())
    attempt = functools.partial(
        _create,
        services,
        body,
        thread_id=thread_id,
        run_id=run_id,
        subscribe=subscribe,
        done_only=done_only,
    )
    try:
        return await attempt(cached=True)
    except StaleAssistantError:
        return await attempt(cached=False)


async def _create(
    services: Services,
    body: RunCreate,
    *,
    thread_id: str | None,
    run_id: str,
    subscribe: Callable[[], Awaitable[Any]] | None,
    cached: bool,
    done_only: bool,
) -> CreatedRun:
    stateless = thread_id is None
    try:
        assistant = await assistants_service.resolve(services, body.assistant_id, cached=cached)
    except errors.AssistantNotFoundError as exc:
        raise errors.NotFoundError(THREAD_OR_ASSISTANT_NOT_FOUND) from exc
    strategy = body.multitask_strategy if isinstance(body, RunCreateStateful) else "enqueue"
    if_not_exists = body.if_not_exists if isinstance(body, RunCreateStateful) else "create"
    on_completion = body.on_completion or ("delete" if stateless else "keep")
    thread_filters: access.Filters | None = None
    if access.active() is not None:
        body, thread_filters = await _authorize_create(
            body,
            assistant,
            thread_id=thread_id,
            run_id=run_id,
            strategy=strategy,
            if_not_exists=if_not_exists,
        )
    thread_id = thread_id or str(ids.uuid7())
    # A run that can start at once (an idle thread, no delay) is inserted already claimed by this
    # router's dispatcher, in a slot reserved beforehand: no claim round trip, no wake-up.
    here = services.dispatch_here
    reserved = here is not None and body.after_seconds == 0 and await here.reserve()
    try:
        if subscribe is not None and not (reserved and done_only):
            # confirmed before the run exists: no frame can be missed
            await asyncio.wait_for(subscribe(), SUBSCRIBE_TIMEOUT_SECONDS)
        row, inflight = await _insert(
            services,
            services.pool,
            body,
            assistant,
            thread_id=thread_id,
            run_id=run_id,
            strategy=strategy,
            if_not_exists=if_not_exists,
            on_completion=on_completion,
            stateless=stateless,
            claimed_by=here.owner if reserved and here is not None else None,
            thread_filters=thread_filters,
            assistant_stamp=assistants_service.cache_stamp(assistant) if cached else None,
        )
    except BaseException:
        if reserved and here is not None:
            here.release()
        raise
    if strategy in ("interrupt", "rollback"):
        for inflight_id in inflight:
            await cancel_one(services, thread_id, inflight_id, action=strategy)
    started = await _start_or_wake(services, row, here if reserved else None, body.after_seconds)
    metrics.RUNS_CREATED.labels(assistant["graph_id"]).inc()
    run = runs_store.to_run(row)
    run["status"] = "pending"  # the run as created; a started one reports `running` from here on
    return CreatedRun(
        run=run, resumable=body.stream_resumable, on_disconnect=body.on_disconnect, started_here=started
    )


async def _start_or_wake(
    services: Services, row: runs_store.Record, here: DispatchHere | None, after_seconds: float
) -> bool:
    """A new run inserted already claimed starts in `here`, the dispatcher that reserved a slot for
    it (True); any other run wakes the dispatchers (at its due time for `after_seconds`)."""
    if row["status"] == "running" and here is not None:
        here.start_run(row)
        for _ in range(DISPATCH_HEAD_START_TURNS):
            await asyncio.sleep(0)
        return True
    if here is not None:
        here.release()
    due = time.time() + after_seconds if after_seconds > 0 else None
    services.kick_dispatcher(due)
    await signals.wake(services.redis, services.keys, due)
    return False


async def _authorize_create(
    body: RunCreate,
    assistant: Assistant,
    *,
    thread_id: str | None,
    run_id: str,
    strategy: str,
    if_not_exists: str,
) -> tuple[RunCreate, access.Filters | None]:
    """Custom auth's `threads.create_run` and `assistants.read` events for a new run: the body with
    the metadata the handler left, and the thread filters (None: none)."""
    value, filters = await access.authorize(
        "threads",
        "create_run",
        {
            "thread_id": thread_id,
            "assistant_id": assistant["assistant_id"],
            "run_id": run_id,
            "status": "pending",
            "metadata": dict(body.metadata or {}),
            "prevent_insert_if_inflight": strategy == "reject",
            "multitask_strategy": strategy,
            "if_not_exists": if_not_exists,
            "after_seconds": body.after_seconds,
            "kwargs": {
                "input": body.input,
                "command": body.command.model_dump(exclude_unset=True) if body.command else None,
                "config": body.config.model_dump(exclude_none=True) if body.config else {},
                "context": body.context,
                "stream_mode": body.stream_modes(),
                "interrupt_before": body.interrupt_before,
                "interrupt_after": body.interrupt_after,
                "webhook": body.webhook,
                "temporary": thread_id is None,
                "subgraphs": body.stream_subgraphs,
            },
        },
    )
    if (assistant["metadata"] or {}).get("created_by") != "system":  # as the official server
        _, assistant_filters = await access.authorize(
            "assistants", "read", {"assistant_id": assistant["assistant_id"]}
        )
        if not access.matches(assistant["metadata"], assistant_filters):
            raise errors.NotFoundError(THREAD_OR_ASSISTANT_NOT_FOUND)
    if value.get("metadata") != body.metadata:
        body = body.model_copy(update={"metadata": value.get("metadata") or {}})
    return body, filters


async def authorize_thread(
    services: Services, thread_id: str, action: str, value: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Fire custom auth's `threads.<action>` event for one thread (router.access): the thread is not
    found if the handler's filters exclude it. Returns the value as the handler left it; None when
    custom auth is off (then without any query)."""
    if access.active() is None:
        return None
    new_value, filters = await access.authorize("threads", action, value or {"thread_id": thread_id})
    if filters is not None:
        thread = await threads_store.get(services.pool, thread_id)
        if thread is None or not access.matches(thread["metadata"], filters):
            raise errors.ThreadNotFoundError(f"Thread with ID {thread_id} not found")
    return new_value


@dataclass(frozen=True)
class LockedRun:
    """A run created inside a caller's transaction, to `announce` once that transaction commits."""

    run: Run
    graph_id: str
    to_cancel: list[tuple[str, str]]


async def create_locked(
    services: Services,
    conn: Connection,
    body: RunCreate,
    *,
    thread_id: str | None,
    if_not_exists: str | None = None,
) -> LockedRun:
    """Create a run inside the caller's open transaction on `conn` (a cron tick: the run and the
    cron's next date commit together), in a savepoint so a refused run leaves the caller's work
    intact. Unlike `create` it takes no dispatch fast path and signals nothing: call `announce`
    after the commit. A missing thread is created with `if_not_exists="create"` (default: only for
    a stateless run)."""
    stateless = thread_id is None
    try:
        assistant = await assistants_service.resolve(services, body.assistant_id)
    except errors.AssistantNotFoundError as exc:
        raise errors.NotFoundError(THREAD_OR_ASSISTANT_NOT_FOUND) from exc
    strategy = body.multitask_strategy if isinstance(body, RunCreateStateful) else "enqueue"
    async with conn.transaction():  # a savepoint: a refused run leaves the caller's work intact
        row, inflight = await _insert(
            services,
            conn,
            body,
            assistant,
            thread_id=thread_id or str(ids.uuid7()),
            run_id=str(ids.uuid7()),
            strategy=strategy,
            if_not_exists=if_not_exists or ("create" if stateless else "reject"),
            on_completion=body.on_completion or ("delete" if stateless else "keep"),
            stateless=stateless,
            claimed_by=None,
        )
    to_cancel: list[tuple[str, str]] = (
        [(i, strategy) for i in inflight] if strategy in ("interrupt", "rollback") else []
    )
    return LockedRun(run=runs_store.to_run(row), graph_id=assistant["graph_id"], to_cancel=to_cancel)


async def announce(services: Services, created: LockedRun) -> None:
    """After `create_locked`'s transaction committed: cancel what the strategy interrupts, wake
    the dispatchers."""
    for cancel_id, action in created.to_cancel:
        await cancel_one(services, created.run["thread_id"], cancel_id, action=action)
    services.kick_dispatcher()
    await signals.wake(services.redis, services.keys)
    metrics.RUNS_CREATED.labels(created.graph_id).inc()


async def get(services: Services, thread_id: str, run_id: str) -> Run:
    await authorize_thread(services, thread_id, "read")
    row = await runs_store.get(services.pool, run_id, thread_id)
    if row is None:
        raise errors.RunNotFoundError("Not Found")
    return runs_store.to_run(row)


async def list_for_thread(
    services: Services, thread_id: str, *, status: str | None, limit: int, offset: int
) -> list[Run]:
    await authorize_thread(services, thread_id, "search", {"thread_id": thread_id, "metadata": {}})
    rows = await runs_store.list_for_thread(
        services.pool, thread_id, status=status, limit=limit, offset=offset
    )
    if not rows and await runs_store.thread_snapshot(services.pool, thread_id) is None:
        raise errors.ThreadNotFoundError(f"Thread with ID {thread_id} not found")
    return [runs_store.to_run(r) for r in rows]


async def delete(services: Services, thread_id: str, run_id: str) -> None:
    await authorize_thread(services, thread_id, "delete", {"thread_id": thread_id, "run_id": run_id})
    row = await runs_store.get(services.pool, run_id, thread_id)
    if row is None:
        raise errors.RunNotFoundError("Not Found")
    if not is_terminal(row["status"]):
        raise errors.ConflictError("Cannot delete a run that is pending or running. Cancel it first.")
    await runs_store.delete(services.pool, run_id)


async def cancel_one(services: Services, thread_id: str, run_id: str, *, action: str) -> Run | None:
    """Cancel a run. Pending runs end at once; running ones are signalled and end when the function
    stops (the outcome carries the action). Returns the run as it is now, None if it was deleted."""
    async with services.pool.acquire() as conn, conn.transaction():
        # thread first, then run: the lock order of run creation and outcome recording
        await runs_store.lock_thread_for_outcome(conn, thread_id)
        row = await runs_store.get(conn, run_id, thread_id)
        if row is None:
            raise errors.RunNotFoundError("Not Found")
        if is_terminal(row["status"]):
            return runs_store.to_run(row)
        await runs_store.set_cancel_action(conn, run_id, action)
        ended = (
            await outcomes.cancel_pending(conn, row, action=action) if row["status"] == "pending" else None
        )
    if ended is not None:
        await outcomes.publish_done(services, ended, {})
        # a run queued behind the one that just ended may be runnable now
        services.kick_dispatcher()
        await signals.wake(services.redis, services.keys)
        return None if action == "rollback" else runs_store.to_run(ended)
    await signals.send_cancel(services.redis, services.keys, run_id, action)
    return runs_store.to_run(row)


async def cancel_many(services: Services, body: RunsCancel, *, action: str) -> list[tuple[str, str]]:
    """Cancel runs matching the filter; returns (thread_id, run_id) of each one signalled."""
    statuses: list[str] = ["pending", "running"]
    if body.status is not None and body.status != "all":
        statuses = [body.status]
    rows = await runs_store.select_for_cancel(
        services.pool, thread_id=body.thread_id, run_ids=body.run_ids, statuses=statuses
    )
    if access.active() is not None:
        _, filters = await access.authorize(
            "threads",
            "update",
            {
                "thread_id": body.thread_id,
                "action": action,
                "metadata": {"run_ids": body.run_ids, "status": body.status},
            },
        )
        if filters is not None:
            rows = [r for r in rows if await _thread_matches(services, str(r["thread_id"]), filters)]
    if not rows:
        raise errors.NotFoundError("No runs found to cancel.")
    done = []
    for row in rows:
        await cancel_one(services, str(row["thread_id"]), str(row["run_id"]), action=action)
        done.append((str(row["thread_id"]), str(row["run_id"])))
    return done


async def _thread_matches(services: Services, thread_id: str, filters: access.Filters) -> bool:
    thread = await threads_store.get(services.pool, thread_id)
    return thread is not None and access.matches(thread["metadata"], filters)


async def cancel_thread_runs(services: Services, thread_id: str) -> None:
    """Interrupt every pending or running run of a thread (before the thread is deleted)."""
    rows = await runs_store.select_for_cancel(
        services.pool, thread_id=thread_id, run_ids=None, statuses=["pending", "running"]
    )
    for row in rows:
        await cancel_one(services, thread_id, str(row["run_id"]), action="interrupt")


async def cancel_assistant_runs(services: Services, assistant_id: str) -> None:
    """Interrupt every pending or running run of an assistant (before the assistant is deleted)."""
    for row in await runs_store.unfinished_of_assistant(services.pool, assistant_id):
        await cancel_one(services, str(row["thread_id"]), str(row["run_id"]), action="interrupt")


async def final_output(services: Services, thread_id: str, run_id: str) -> Any:
    """What join/wait return for a finished run: its recorded output, else the thread's values."""
    row = await runs_store.get(services.pool, run_id, thread_id)
    if row is not None and row["output"] is not None:
        return row["output"]
    snap = await runs_store.thread_snapshot(services.pool, thread_id)
    if snap is None:
        return None
    return outcomes.thread_output(snap["values"], snap["status"], snap["interrupts"], snap["error"])
