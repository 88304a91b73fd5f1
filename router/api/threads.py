"""Threads: create, search, count, prune, get, patch, delete, copy, storage, state and history.

The thread join stream (`GET /threads/{id}/stream`) lives with the other streams in thread_stream.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from starlette.responses import Response

from router import errors
from router.api import deps, responses
from router.api.auth import AuditorDep
from router.api.deps import ServicesDep, check_uuid
from router.api.schemas import (
    CheckpointConfig,
    ThreadCountRequest,
    ThreadCreate,
    ThreadPatch,
    ThreadPruneRequest,
    ThreadSearchRequest,
    ThreadStateCheckpointRequest,
    ThreadStateSearch,
    ThreadStateUpdate,
    ThreadTtl,
    pagination_headers,
)
from router.services import threads as threads_service

router = APIRouter(tags=["Threads"], dependencies=[deps.InputChecked])


def thread_id_param(value: str) -> str:
    return str(uuid.UUID(check_uuid(value, "thread")))


def _ttl(ttl: ThreadTtl | None) -> threads_service.Ttl | None:
    return threads_service.Ttl(strategy=ttl.strategy, minutes=ttl.ttl) if ttl is not None else None


def _checkpoint(
    checkpoint: CheckpointConfig | None, checkpoint_id: str | None = None
) -> dict[str, Any] | None:
    """The checkpoint to read or write at; the thread always comes from the path."""
    merged: dict[str, Any] = {"checkpoint_id": checkpoint_id} if checkpoint_id else {}
    if checkpoint is not None:
        merged.update(checkpoint.as_dict())
    merged.pop("thread_id", None)
    return merged or None


def _is_true(value: str | None) -> bool:
    return value in ("true", "True")


@router.post("/threads")
async def create_thread(
    services: ServicesDep, body: Annotated[ThreadCreate | None, Body()] = None
) -> Response:
    body = body or ThreadCreate()
    thread = await threads_service.create(
        services,
        thread_id=thread_id_param(body.thread_id) if body.thread_id else None,
        metadata=body.metadata,
        if_exists=body.if_exists or "raise",
        ttl=_ttl(body.ttl),
        supersteps=[s.model_dump(exclude_unset=True) for s in body.supersteps] if body.supersteps else None,
    )
    return responses.json(thread)


@router.post("/threads/search")
async def search_threads(
    services: ServicesDep, body: Annotated[ThreadSearchRequest | None, Body()] = None
) -> Response:
    body = body or ThreadSearchRequest()
    items, next_offset = await threads_service.search(
        services,
        thread_ids=body.ids,
        metadata=body.metadata,
        values=body.values,
        status=body.status,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        select=body.select,
        extract=body.extract,
    )
    return responses.json(items, headers=pagination_headers(len(items), body.offset, next_offset))


@router.post("/threads/count")
async def count_threads(
    services: ServicesDep, body: Annotated[ThreadCountRequest | None, Body()] = None
) -> Response:
    body = body or ThreadCountRequest()
    return responses.json(
        await threads_service.count(services, metadata=body.metadata, values=body.values, status=body.status)
    )


@router.post("/threads/prune")
async def prune_threads(services: ServicesDep, body: ThreadPruneRequest) -> Response:
    thread_ids = [thread_id_param(t) for t in body.thread_ids]
    pruned = await threads_service.prune(services, thread_ids, strategy=body.strategy)
    return responses.json({"pruned_count": pruned})


@router.get("/threads/{thread_id}")
async def get_thread(
    services: ServicesDep, thread_id: str, include: Annotated[str | None, Query()] = None
) -> Response:
    """`?include=ttl` adds the thread's TTL (when it has one)."""
    fields = {f.strip() for f in (include or "").split(",")}
    thread = await threads_service.get(services, thread_id_param(thread_id), include_ttl="ttl" in fields)
    return responses.json(thread)


@router.patch("/threads/{thread_id}")
async def patch_thread(
    services: ServicesDep,
    thread_id: str,
    body: Annotated[ThreadPatch | None, Body()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    """Metadata is merged; `Prefer: return=minimal` answers 204 without a body."""
    body = body or ThreadPatch()
    thread = await threads_service.update(
        services, thread_id_param(thread_id), metadata=body.metadata, ttl=_ttl(body.ttl)
    )
    if prefer == "return=minimal":
        return responses.no_content()
    return responses.json(thread)


@router.delete("/threads/{thread_id}")
async def delete_thread(services: ServicesDep, thread_id: str, auditor: AuditorDep) -> Response:
    thread_id = thread_id_param(thread_id)
    await threads_service.delete(services, thread_id)
    await auditor.record("thread.delete", target=thread_id)
    return responses.no_content()


@router.post("/threads/{thread_id}/copy")
async def copy_thread(services: ServicesDep, thread_id: str) -> Response:
    return responses.json(await threads_service.copy(services, thread_id_param(thread_id)))


@router.get("/threads/{thread_id}/storage")
async def get_thread_storage(services: ServicesDep, thread_id: str) -> Response:
    return responses.json(await threads_service.storage(services, thread_id_param(thread_id)))


@router.get("/threads/{thread_id}/state")
async def get_thread_state(
    services: ServicesDep,
    thread_id: str,
    subgraphs: Annotated[str | None, Query()] = None,
    select: Annotated[list[str] | None, Query()] = None,
) -> Response:
    state = await threads_service.get_state(
        services, thread_id_param(thread_id), subgraphs=_is_true(subgraphs), select=select
    )
    return responses.json(state)


@router.post("/threads/{thread_id}/state")
async def update_thread_state(services: ServicesDep, thread_id: str, body: ThreadStateUpdate) -> Response:
    result = await threads_service.update_state(
        services,
        thread_id_param(thread_id),
        values=body.values,
        as_node=body.as_node,
        checkpoint=_checkpoint(body.checkpoint, body.checkpoint_id),
    )
    return responses.json(result)


@router.post("/threads/{thread_id}/state/checkpoint")
async def get_thread_state_at_checkpoint_post(
    services: ServicesDep, thread_id: str, body: ThreadStateCheckpointRequest
) -> Response:
    state = await threads_service.get_state(
        services,
        thread_id_param(thread_id),
        checkpoint=_checkpoint(body.checkpoint),
        subgraphs=body.subgraphs,
        select=body.select,
    )
    return responses.json(state)


@router.get("/threads/{thread_id}/state/{checkpoint_id}")
async def get_thread_state_at_checkpoint(
    services: ServicesDep,
    thread_id: str,
    checkpoint_id: str,
    subgraphs: Annotated[str | None, Query()] = None,
    select: Annotated[list[str] | None, Query()] = None,
) -> Response:
    state = await threads_service.get_state(
        services,
        thread_id_param(thread_id),
        checkpoint=_checkpoint(None, checkpoint_id),
        subgraphs=_is_true(subgraphs),
        select=select,
    )
    return responses.json(state)


@router.get("/threads/{thread_id}/history")
async def get_thread_history(
    services: ServicesDep,
    thread_id: str,
    limit: Annotated[str | None, Query()] = None,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    tid = thread_id_param(thread_id)
    try:
        count = int(limit) if limit is not None else 10
    except ValueError:
        raise errors.UnprocessableError(f"Invalid limit {limit}") from None
    if count < 1:
        raise errors.UnprocessableError(f"Invalid limit {limit}")
    states = await threads_service.get_history(
        services, tid, limit=count, before={"checkpoint_id": before} if before else None
    )
    return responses.json(states)


@router.post("/threads/{thread_id}/history")
async def get_thread_history_post(
    services: ServicesDep, thread_id: str, body: Annotated[ThreadStateSearch | None, Body()] = None
) -> Response:
    body = body or ThreadStateSearch()
    before = body.before
    states = await threads_service.get_history(
        services,
        thread_id_param(thread_id),
        limit=body.limit,
        before={"checkpoint_id": before} if isinstance(before, str) else _checkpoint(before),
        metadata=body.metadata,
        checkpoint=_checkpoint(body.checkpoint),
        select=body.select,
    )
    return responses.json(states)
