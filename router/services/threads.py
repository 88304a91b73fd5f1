"""Threads: CRUD, search, copy, prune, and their state through the function service.

The graph behind a thread's state is the graph of its newest run, else `metadata.graph_id` (runs
record it there; a client may set it). Its config is the config of the assistant named by
`metadata.assistant_id` (else the newest run's), overlaid with the thread's own config. A state
update holds the thread's row lock while the function writes, so no run can start on the thread
meanwhile (run creation takes the same lock), and it refuses while a run is pending or running.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from contracts import ids, runtime
from contracts.frames import Frame
from router import access, errors, tenancy
from router.models import Thread
from router.services import runs as runs_service
from router.services.assistants import check_select
from router.services.context import Services
from router.store import assistants as assistants_store
from router.store import threads as store
from router.store.pool import Connection, Pool

log = logging.getLogger(__name__)

STATE_UPDATE_EVENT = "state_update"
SELECT_FIELDS = frozenset(
    {
        "thread_id",
        "created_at",
        "updated_at",
        "state_updated_at",
        "metadata",
        "config",
        "status",
        "values",
        "interrupts",
    }
)
STATE_FIELDS = frozenset(
    {"values", "next", "tasks", "checkpoint", "metadata", "created_at", "parent_checkpoint", "interrupts"}
)
EXTRACT_ROOTS = frozenset({"values", "metadata", "config", "interrupts"})
MAX_EXTRACT_PATHS = 10
_ALIAS = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_PATH_SPLIT = re.compile(r"\.|\[")
BUSY = "Thread is busy with a running job. Cannot update state."


def empty_state() -> dict[str, Any]:
    """The state of a thread that has no graph yet (never ran), as the official server answers it."""
    return {
        "values": {},
        "next": [],
        "tasks": [],
        "metadata": None,
        "created_at": None,
        "checkpoint": None,
        "parent_checkpoint": None,
        "interrupts": [],
        "checkpoint_id": None,
        "parent_checkpoint_id": None,
    }


@dataclass(frozen=True)
class Ttl:
    """Time to live of a thread: `minutes` from its creation or last TTL change."""

    strategy: str = "delete"
    minutes: float | None = None


def canonical_id(value: str) -> str:
    return str(uuid.UUID(value))


def _not_found(thread_id: str) -> errors.ThreadNotFoundError:
    return errors.ThreadNotFoundError(f"Thread with ID {thread_id} not found")


def _no_graph(thread_id: str) -> errors.InvalidRequestError:
    return errors.InvalidRequestError(
        f"Thread '{thread_id}' has no assigned graph ID. This usually occurs when no runs have been made on "
        "this particular thread. This operation requires a graph ID. Please ensure a run has been made for the "
        "thread or manually update the thread metadata (by setting the 'graph_id' field) before running this "
        "operation."
    )


async def create(
    services: Services,
    *,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    if_exists: str = "raise",
    ttl: Ttl | None = None,
    supersteps: list[dict[str, Any]] | None = None,
) -> Thread:
    """Create a thread; `supersteps` are applied to its state by the graph in `metadata.graph_id`.

    If applying them fails, the thread is removed again and the error is raised.
    """
    thread_id = canonical_id(thread_id) if thread_id else str(ids.uuid7())
    metadata = metadata or {}
    value, filters = await access.authorize(
        "threads", "create", {"thread_id": thread_id, "metadata": metadata, "if_exists": if_exists}
    )
    metadata = value.get("metadata") or metadata
    graph_id = metadata.get("graph_id")
    if supersteps and not graph_id:
        raise _no_graph(thread_id)
    created = await store.insert(
        services.pool,
        thread_id,
        metadata=metadata,
        ttl_strategy=ttl.strategy if ttl else None,
        ttl_minutes=ttl.minutes if ttl else None,
    )
    if created is None:
        if if_exists == "do_nothing":
            existing = await store.get(services.pool, thread_id)
            if existing is not None and access.matches(existing["metadata"], filters):
                return existing
        raise errors.AlreadyExistsError(f"Thread with ID {thread_id} already exists")
    if not supersteps:
        return created
    try:
        config = await _assistant_config(services, services.pool, created, None)
        request = runtime.StateUpdateRequest(
            graph_id=str(graph_id), thread_id=thread_id, config=config, supersteps=supersteps
        )
        updated, _ = await _apply_update(services, services.pool, request)
    except Exception:
        await store.delete_many(services.pool, [thread_id])
        raise
    await _publish_state(services, thread_id, str(graph_id), config)
    return updated


async def get(services: Services, thread_id: str, *, include_ttl: bool = False) -> Thread:
    _, filters = await access.authorize("threads", "read", {"thread_id": thread_id})
    thread = await store.get(services.pool, thread_id, include_ttl=include_ttl)
    if thread is None or not access.matches(thread["metadata"], filters):
        raise _not_found(thread_id)
    return thread


async def update(
    services: Services,
    thread_id: str,
    *,
    metadata: dict[str, Any] | None = None,
    ttl: Ttl | None = None,
    include_ttl: bool = False,
) -> Thread:
    """Merge `metadata` into the thread's; a `ttl` replaces the current one (counted from now)."""
    value = await runs_service.authorize_thread(
        services, thread_id, "update", {"thread_id": thread_id, "metadata": metadata or {}}
    )
    if value is not None:
        metadata = value.get("metadata") or metadata
    thread = await store.patch(
        services.pool,
        thread_id,
        metadata=metadata or {},
        set_ttl=ttl is not None,
        ttl_strategy=ttl.strategy if ttl else None,
        ttl_minutes=ttl.minutes if ttl else None,
        include_ttl=include_ttl,
    )
    if thread is None:
        raise _not_found(thread_id)
    return thread


async def delete(services: Services, thread_id: str) -> None:
    """Delete the thread, its runs and its checkpoints; in-flight runs are interrupted first."""
    await runs_service.authorize_thread(services, thread_id, "delete")
    if await store.get(services.pool, thread_id) is None:
        raise _not_found(thread_id)
    if not await delete_many(services, [thread_id]):
        raise _not_found(thread_id)


async def delete_many(services: Services, thread_ids: list[str]) -> list[str]:
    """Delete threads (interrupting their in-flight runs first); return the ids that existed."""
    for thread_id in thread_ids:
        await runs_service.cancel_thread_runs(services, thread_id)
    return await store.delete_many(services.pool, thread_ids)


async def delete_for_assistant(services: Services, assistant_id: str) -> list[str]:
    """Delete every thread whose metadata names the assistant."""
    return await delete_many(services, await store.ids_for_assistant(services.pool, assistant_id))


async def prune(services: Services, thread_ids: list[str], *, strategy: str = "delete") -> int:
    """`delete`: remove the threads entirely. `keep_latest`: keep each thread and its newest
    checkpoint, drop older checkpoints. Returns how many of the given threads existed."""
    if not thread_ids:
        return 0
    ids_ = list(dict.fromkeys(canonical_id(t) for t in thread_ids))
    if access.active() is not None:  # only the threads the handler's filters let the caller delete
        _, filters = await access.authorize("threads", "delete", {"thread_ids": ids_})
        if filters is not None:
            found = [await store.get(services.pool, t) for t in ids_]
            ids_ = [t["thread_id"] for t in found if t is not None and access.matches(t["metadata"], filters)]
    if strategy == "keep_latest":
        return len(await store.prune_keep_latest(services.pool, ids_))
    return len(await delete_many(services, ids_))


async def sweep_expired(services: Services, *, limit: int = 100) -> int:
    """Apply the TTL of up to `limit` expired threads: `delete` removes them, `keep_latest` prunes
    their older checkpoints and arms the next expiry. Safe to run from several replicas at once
    (both actions are idempotent). Returns how many threads were swept."""
    due = await store.expired(services.pool, limit=limit)
    swept = 0
    for deployment in sorted({d for _, _, d in due}):
        with tenancy.acting_for(deployment):
            to_delete = [t for t, strategy, d in due if strategy == "delete" and d == deployment]
            to_prune = [t for t, strategy, d in due if strategy == "keep_latest" and d == deployment]
            swept += len(await delete_many(services, to_delete)) if to_delete else 0
            if to_prune:
                swept += len(await store.prune_keep_latest(services.pool, to_prune))
                await store.rearm_ttl(services.pool, to_prune)
    return swept


async def copy(services: Services, thread_id: str) -> Thread:
    """A new thread with the same metadata, config and state, and a copy of every checkpoint."""
    new_id = str(ids.uuid7())
    source = await runs_service.authorize_thread(services, thread_id, "read")
    if source is not None:
        await access.authorize("threads", "create", {"thread_id": new_id})
    copied = await store.copy(services.pool, thread_id, new_id)
    if copied is None:
        raise _not_found(thread_id)
    return copied


async def storage(services: Services, thread_id: str) -> dict[str, Any]:
    await runs_service.authorize_thread(services, thread_id, "read")
    if await store.get(services.pool, thread_id) is None:
        raise _not_found(thread_id)
    return {"thread_id": thread_id, **await store.storage(services.pool, thread_id)}


def _validate_extract(extract: dict[str, str]) -> None:
    if len(extract) > MAX_EXTRACT_PATHS:
        raise errors.UnprocessableError(
            f"Maximum of {MAX_EXTRACT_PATHS} extract paths allowed, got {len(extract)}"
        )
    reserved = extract.keys() & SELECT_FIELDS
    if reserved:
        raise errors.UnprocessableError(f"Extract keys cannot use reserved field names: {sorted(reserved)}")
    for alias, path in extract.items():
        if not _ALIAS.match(alias):
            raise errors.UnprocessableError(
                f"Extract key '{alias}' must be a valid identifier (letters, digits, underscores)"
            )
        if not path:
            raise errors.UnprocessableError(f"Extract path for '{alias}' must be a non-empty string")
        if path.split(".")[0].split("[")[0] not in EXTRACT_ROOTS:
            raise errors.UnprocessableError(
                f"Extract path '{path}' must start with one of: {', '.join(sorted(EXTRACT_ROOTS))}"
            )


def extract_path(data: dict[str, Any], path: str) -> Any:
    """`values.messages[-1].content` → that value, or None where the path does not resolve."""
    parts = _PATH_SPLIT.split(path)
    current: Any = data.get(parts[0])
    for part in parts[1:]:
        if current is None or part.startswith("_"):
            return None
        if not part:
            continue
        if part.endswith("]"):
            try:
                current = current[int(part[:-1])] if isinstance(current, list) else None
            except (ValueError, IndexError):
                return None
        else:
            current = current.get(part) if isinstance(current, dict) else None
    return current


def _shape(thread: Thread, select: list[str] | None, extract: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in thread.items() if k in select} if select else dict(thread)
    if extract:
        out["extracted"] = {alias: extract_path(dict(thread), path) for alias, path in extract.items()}
    return out


async def search(
    services: Services,
    *,
    thread_ids: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    status: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
    select: list[str] | None = None,
    extract: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of threads and the offset of the next page (None on the last page)."""
    check_select(select, SELECT_FIELDS)
    if extract:
        _validate_extract(extract)
    wanted: list[str] | None = None
    if thread_ids:
        wanted = []
        for value in thread_ids:
            if not ids.is_uuid(value):
                raise errors.InvalidRequestError(f"Invalid thread ID {value}")
            wanted.append(canonical_id(value))
    order = "asc" if sort_order and sort_order.lower() == "asc" else "desc"
    _, filters = await access.authorize(
        "threads",
        "search",
        {
            "metadata": metadata or {},
            "values": values or {},
            "status": status,
            "limit": limit,
            "offset": offset,
        },
    )
    rows = await store.search(
        services.pool,
        ids=wanted,
        metadata=metadata or None,
        values=values or None,
        status=status,
        sort_by=sort_by.lower() if sort_by else "created_at",
        sort_order=order,
        limit=limit + 1,
        offset=offset,
        auth=filters,
    )
    next_offset = offset + limit if len(rows) > limit else None
    return [_shape(t, select, extract) for t in rows[:limit]], next_offset


async def count(
    services: Services,
    *,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    status: str | None = None,
) -> int:
    _, filters = await access.authorize(
        "threads", "search", {"metadata": metadata or {}, "values": values or {}, "status": status}
    )
    return await store.count(
        services.pool, metadata=metadata or None, values=values or None, status=status, auth=filters
    )


# --- state (through the function service) ---------------------------------------------------------


async def _assistant_config(
    services: Services, db: Pool | Connection, thread: Thread, run_assistant_id: str | None
) -> dict[str, Any]:
    """The thread's assistant config with the thread's own config laid over it."""
    assistant_id = thread["metadata"].get("assistant_id") or run_assistant_id
    base: dict[str, Any] = {}
    if isinstance(assistant_id, str) and ids.is_uuid(assistant_id):
        assistant = await assistants_store.get(db, canonical_id(assistant_id), graph_ids=services.graph_ids)
        if assistant is not None:
            base = dict(assistant["config"])
    own = thread["config"] or {}
    return {
        **base,
        **own,
        "configurable": {**(base.get("configurable") or {}), **(own.get("configurable") or {})},
    }


async def _target(
    services: Services, db: Pool | Connection, thread: Thread
) -> tuple[str | None, dict[str, Any]]:
    """(graph id, config) for state calls on `thread`; no graph id when it never ran or got one."""
    latest = await store.latest_run(db, thread["thread_id"])
    graph_id = latest[0] if latest else thread["metadata"].get("graph_id")
    config = await _assistant_config(services, db, thread, latest[1] if latest else None)
    return (str(graph_id) if graph_id else None), config


def select_state(state: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """Keep only the selected fields; `values.<key>` keeps one key of the values."""
    if not select:
        return state
    out = {k: state[k] for k in select if k in STATE_FIELDS and k in state}
    if "values" not in out:
        keys = [s.removeprefix("values.") for s in select if s.startswith("values.")]
        values = state.get("values")
        if keys and isinstance(values, dict):
            out["values"] = {k: values[k] for k in keys if k in values}
    return out


def check_state_select(select: list[str] | None) -> None:
    invalid = [
        s for s in select or [] if s not in STATE_FIELDS and not (s.startswith("values.") and len(s) > 7)
    ]
    if invalid:
        raise errors.UnprocessableError(f"Invalid select columns: {invalid}. Expected: {set(STATE_FIELDS)}")


async def get_state(
    services: Services,
    thread_id: str,
    *,
    checkpoint: dict[str, Any] | None = None,
    subgraphs: bool = False,
    select: list[str] | None = None,
) -> dict[str, Any]:
    """The thread's state (at `checkpoint`, else the latest)."""
    check_state_select(select)
    thread = await get(services, thread_id)
    graph_id, config = await _target(services, services.pool, thread)
    if graph_id is None:
        return select_state(empty_state(), select)
    request = runtime.StateGetRequest(
        graph_id=graph_id, thread_id=thread_id, config=config, checkpoint=checkpoint, subgraphs=subgraphs
    )
    state: dict[str, Any] = await services.functions.call_json(runtime.STATE_GET_REQUESTED, request)
    return select_state(state, select)


async def get_history(
    services: Services,
    thread_id: str,
    *,
    limit: int = 10,
    before: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: dict[str, Any] | None = None,
    select: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Past states, newest first (`before` a checkpoint, with checkpoint metadata containing `metadata`)."""
    check_state_select(select)
    thread = await get(services, thread_id)
    graph_id, config = await _target(services, services.pool, thread)
    if graph_id is None:
        return []
    request = runtime.StateHistoryRequest(
        graph_id=graph_id,
        thread_id=thread_id,
        config=config,
        limit=limit,
        before=before,
        metadata=metadata or None,
        checkpoint=checkpoint,
    )
    states: list[dict[str, Any]] = await services.functions.call_json(
        runtime.STATE_HISTORY_REQUESTED, request
    )
    return [select_state(s, select) for s in states]


async def update_state(
    services: Services,
    thread_id: str,
    *,
    values: Any = None,
    as_node: str | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write `values` as if `as_node` produced them (at `checkpoint`, else the latest), then set
    the thread's values, interrupts and status from the new checkpoint and tell thread streams."""
    await runs_service.authorize_thread(services, thread_id, "update")
    async with services.pool.acquire() as conn, conn.transaction():
        thread = await store.lock(conn, thread_id)
        if thread is None:
            raise _not_found(thread_id)
        if await store.inflight_runs(conn, thread_id):
            raise errors.ConflictError(BUSY)
        graph_id, config = await _target(services, conn, thread)
        if graph_id is None:
            raise _no_graph(thread_id)
        request = runtime.StateUpdateRequest(
            graph_id=graph_id,
            thread_id=thread_id,
            config=config,
            values=values,
            as_node=as_node,
            checkpoint=checkpoint,
        )
        _, result = await _apply_update(services, conn, request)
    await _publish_state(services, thread_id, graph_id, config)
    saved = result.checkpoint
    return {"checkpoint": saved, "configurable": saved, "checkpoint_id": saved.get("checkpoint_id")}


async def _apply_update(
    services: Services, db: Pool | Connection, request: runtime.StateUpdateRequest
) -> tuple[Thread, runtime.StateUpdateResult]:
    result = await services.functions.call(runtime.STATE_UPDATE_REQUESTED, request, runtime.StateUpdateResult)
    status = "interrupted" if result.next or result.interrupts else "idle"
    updated = await store.set_state(
        db, request.thread_id, values=result.values, interrupts=result.interrupts, status=status
    )
    if updated is None:
        raise _not_found(request.thread_id)
    return updated, result


async def _publish_state(services: Services, thread_id: str, graph_id: str, config: dict[str, Any]) -> None:
    """`state_update {"state", "thread_id"}` to the thread's streams, kept for replay like the
    official server does. The update is committed already, so a failure here is only logged."""
    request = runtime.StateGetRequest(graph_id=graph_id, thread_id=thread_id, config=config)
    try:
        state = await services.functions.call_json(runtime.STATE_GET_REQUESTED, request)
    except errors.RouterError as exc:
        log.warning("state of thread %s not published after update: %s", thread_id, exc)
        return
    data = orjson.dumps({"state": state, "thread_id": thread_id})
    key = services.keys.thread_events(thread_id)
    entry_id = await services.redis.xadd(key, {"e": STATE_UPDATE_EVENT, "d": data})
    frame = Frame(STATE_UPDATE_EVENT, data, entry_id.decode() if isinstance(entry_id, bytes) else entry_id)
    async with services.redis.pipeline(transaction=False) as pipe:
        pipe.expire(key, services.settings.resumable_stream_ttl_seconds)
        pipe.publish(services.keys.thread_stream_channel(thread_id), frame.encode_pubsub())
        await pipe.execute()
