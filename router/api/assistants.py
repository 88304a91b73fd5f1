"""Assistants: create, search, count, get, patch, delete, versions, and graph information."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from router import errors
from router.api import deps, responses
from router.api.auth import AuditorDep
from router.api.deps import ServicesDep, check_uuid
from router.api.schemas import (
    VERSION_MAX,
    AssistantCountRequest,
    AssistantCreate,
    AssistantPatch,
    AssistantSearchRequest,
    AssistantVersionChange,
    AssistantVersionsSearchRequest,
    pagination_headers,
)
from router.services import assistants as assistants_service
from router.services import runs as runs_service
from router.services import threads as threads_service

router = APIRouter(tags=["Assistants"], dependencies=[deps.InputChecked])


def assistant_id_param(value: str) -> str:
    return str(uuid.UUID(check_uuid(value, "assistant")))


def _is_true(value: str | None) -> bool:
    return value in ("true", "True")


def _xray(value: str | None) -> bool | int:
    """`true`/`false`, or a positive depth, as the official server reads `?xray=`."""
    if not value or value in ("false", "False"):
        return False
    if value in ("true", "True"):
        return True
    try:
        depth = int(value)
    except ValueError:
        raise errors.UnprocessableError("Invalid xray value") from None
    if depth <= 0:
        raise errors.UnprocessableError("Invalid xray value")
    return depth


@router.post("/assistants")
async def create_assistant(services: ServicesDep, body: AssistantCreate) -> Response:
    assistant_id = assistant_id_param(body.assistant_id) if body.assistant_id else None
    assistant = await assistants_service.create(
        services,
        graph_id=body.graph_id,
        assistant_id=assistant_id,
        config=body.config.as_dict() if body.config else None,
        context=body.context,
        metadata=body.metadata,
        if_exists=body.if_exists or "raise",
        name=body.name,
        description=body.description,
    )
    return responses.json(assistant)


@router.post("/assistants/search")
async def search_assistants(
    services: ServicesDep, body: Annotated[AssistantSearchRequest | None, Body()] = None
) -> Response:
    body = body or AssistantSearchRequest()
    items, next_offset = await assistants_service.search(
        services,
        metadata=body.metadata,
        graph_id=body.graph_id,
        name=body.name,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        select=body.select,
    )
    return responses.json(items, headers=pagination_headers(len(items), body.offset, next_offset))


@router.post("/assistants/count")
async def count_assistants(
    services: ServicesDep, body: Annotated[AssistantCountRequest | None, Body()] = None
) -> Response:
    body = body or AssistantCountRequest()
    total = await assistants_service.count(
        services, metadata=body.metadata, graph_id=body.graph_id, name=body.name
    )
    return responses.json(total)


@router.get("/assistants/{assistant_id}")
async def get_assistant(services: ServicesDep, assistant_id: str) -> Response:
    return responses.json(await assistants_service.get(services, assistant_id_param(assistant_id)))


@router.patch("/assistants/{assistant_id}")
async def patch_assistant(services: ServicesDep, assistant_id: str, body: AssistantPatch) -> Response:
    assistant = await assistants_service.update(
        services,
        assistant_id_param(assistant_id),
        graph_id=body.graph_id,
        config=body.config.as_dict() if body.config else None,
        context=body.context,
        metadata=body.metadata,
        name=body.name,
        description=body.description,
    )
    return responses.json(assistant)


@router.delete("/assistants/{assistant_id}")
async def delete_assistant(
    services: ServicesDep,
    assistant_id: str,
    auditor: AuditorDep,
    delete_threads: Annotated[str | None, Query()] = None,
) -> Response:
    """`?delete_threads=true` also deletes the threads whose metadata names this assistant."""
    aid = assistant_id_param(assistant_id)
    await assistants_service.require(services, aid)
    await runs_service.cancel_assistant_runs(services, aid)
    with_threads = delete_threads is not None and delete_threads.lower() == "true"
    if with_threads:
        await threads_service.delete_for_assistant(services, aid)
    await assistants_service.delete(services, aid)
    await auditor.record("assistant.delete", target=aid, details={"delete_threads": with_threads})
    return responses.no_content()


@router.get("/assistants/{assistant_id}/graph")
async def get_assistant_graph(
    services: ServicesDep, assistant_id: str, xray: Annotated[str | None, Query()] = None
) -> Response:
    """The path takes an assistant id or a graph id."""
    graph: Any = await assistants_service.get_graph(services, assistant_id, xray=_xray(xray))
    return responses.json(graph)


@router.get("/assistants/{assistant_id}/subgraphs")
async def get_assistant_subgraphs(
    services: ServicesDep, assistant_id: str, recurse: Annotated[str | None, Query()] = None
) -> Response:
    subgraphs = await assistants_service.get_subgraphs(
        services, assistant_id_param(assistant_id), recurse=_is_true(recurse)
    )
    return responses.json(subgraphs)


@router.get("/assistants/{assistant_id}/subgraphs/{namespace}")
async def get_assistant_subgraphs_in(
    services: ServicesDep, assistant_id: str, namespace: str, recurse: Annotated[str | None, Query()] = None
) -> Response:
    subgraphs = await assistants_service.get_subgraphs(
        services, assistant_id_param(assistant_id), namespace=namespace, recurse=_is_true(recurse)
    )
    return responses.json(subgraphs)


@router.get("/assistants/{assistant_id}/schemas")
async def get_assistant_schemas(services: ServicesDep, assistant_id: str) -> Response:
    return responses.json(await assistants_service.get_schemas(services, assistant_id_param(assistant_id)))


@router.post("/assistants/{assistant_id}/versions")
async def list_assistant_versions(
    services: ServicesDep,
    assistant_id: str,
    body: Annotated[AssistantVersionsSearchRequest | None, Body()] = None,
) -> Response:
    """Newest first."""
    body = body or AssistantVersionsSearchRequest()
    versions = await assistants_service.list_versions(
        services,
        assistant_id_param(assistant_id),
        metadata=body.metadata,
        limit=body.limit,
        offset=body.offset,
    )
    return responses.json(versions)


@router.post("/assistants/{assistant_id}/latest")
async def set_latest_assistant_version(
    services: ServicesDep,
    assistant_id: str,
    version: Annotated[int | None, Query(ge=1, le=VERSION_MAX)] = None,
    body: Annotated[AssistantVersionChange | None, Body()] = None,
) -> Response:
    """The version comes in the body (what the SDK sends) or as `?version=` (what the spec names)."""
    aid = assistant_id_param(assistant_id)
    chosen = body.version if body is not None and body.version is not None else version
    if chosen is None:
        raise errors.UnprocessableError("version: Field required")
    return responses.json(await assistants_service.set_latest(services, aid, chosen))
