"""Assistants: system assistants per graph, CRUD with versions, and graph information from the
function service.

Only assistants of the graphs this deployment serves (`services.graph_ids`) are visible to reads,
searches and runs, like the official server's graph allow-list. Run endpoints name an assistant by
id or by graph id; `resolve` maps both.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts import ids, runtime
from router import access, errors, tenancy
from router.models import Assistant, AssistantVersion
from router.services.context import Services
from router.store import assistants as store

DEFAULT_NAME = "Untitled"
SELECT_FIELDS = frozenset(
    {
        "assistant_id",
        "graph_id",
        "name",
        "description",
        "config",
        "context",
        "created_at",
        "updated_at",
        "metadata",
        "version",
    }
)
CONFIGURABLE_AND_CONTEXT = (
    "Cannot specify both configurable and context. Prefer setting context alone. Context was introduced in "
    "LangGraph 0.6.0 and is the long term planned replacement for configurable."
)


def canonical_id(value: str) -> str:
    return str(uuid.UUID(value))


def _check_graph(services: Services, graph_id: str) -> None:
    if graph_id not in services.graph_ids:
        raise errors.NotFoundError(
            f"Graph '{graph_id}' not found. Expected one of: {sorted(services.graph_ids)}"
        )


def _config_and_context(
    config: dict[str, Any] | None, context: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Keep `config.configurable` and `context` the same, as the official server does: whichever
    is given is mirrored into the other; both at once is a 400."""
    cfg = dict(config or {})
    if cfg.get("configurable") and context:
        raise errors.InvalidRequestError(CONFIGURABLE_AND_CONTEXT)
    if cfg.get("configurable"):
        context = dict(cfg["configurable"])
    elif context:
        cfg["configurable"] = context
    return cfg, context


def system_assistant_id(graph_id: str) -> str:
    """The system assistant of `graph_id` in the current deployment: the official uuid5 id in the
    default deployment; in any other, a uuid5 of the deployment and the graph (assistant ids are
    unique across deployments, so two deployments serving graph `agent` cannot share one id)."""
    deployment = tenancy.deployment_id()
    if deployment == tenancy.DEFAULT_DEPLOYMENT_ID:
        return ids.system_assistant_id(graph_id)
    return ids.system_assistant_id(f"{deployment}/{graph_id}")


async def ensure_system_assistants(services: Services) -> None:
    """One assistant per served graph in the current deployment; safe to run from many replicas."""
    pairs = [(system_assistant_id(graph_id), graph_id) for graph_id in services.graph_ids]
    await store.insert_system(services.pool, pairs)


def _graphs_text(services: Services) -> str:
    return ", ".join(services.graph_ids)


async def resolve(services: Services, assistant_id_or_graph_id: str, *, cached: bool = False) -> Assistant:
    """The assistant a run names, by id or by graph id (its system assistant). `cached`: the copy
    this replica read last, if any; it may be stale, so pass `cache_stamp(it)` to run creation,
    which refuses a run whose assistant changed since (router.services.context.AssistantCache)."""
    value = assistant_id_or_graph_id
    if value in services.graph_ids:
        assistant_id = system_assistant_id(value)
    elif ids.is_uuid(value):
        assistant_id = canonical_id(value)
    else:
        raise errors.UnprocessableError(
            f"Invalid assistant: '{value}'. Must be either:\n- A valid assistant UUID, or\n"
            f"- One of the registered graphs: {_graphs_text(services)}"
        )
    key = (tenancy.deployment_id(), assistant_id)
    if cached:
        hit = services.assistants.get(key)
        if hit is not None and hit["graph_id"] in services.graph_ids:
            return hit
    found = await store.get(services.pool, assistant_id, graph_ids=services.graph_ids)
    if found is None:
        services.assistants.forget(key)
        raise errors.AssistantNotFoundError(f"Assistant {assistant_id} not found")
    services.assistants.put(key, found)
    return found


def cache_stamp(assistant: Assistant) -> tuple[int, datetime]:
    """What identifies this copy of an assistant: every write of an assistant changes its version or
    its updated_at (migration 0007)."""
    return assistant["version"], datetime.fromisoformat(assistant["updated_at"])


def _forget(services: Services, assistant_id: str) -> None:
    """Drop this replica's cached copy after a write (other replicas learn of it at run creation)."""
    if ids.is_uuid(assistant_id):
        services.assistants.forget((tenancy.deployment_id(), canonical_id(assistant_id)))


async def _authorized(
    services: Services, assistant_id: str, action: str, value: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Fire custom auth's `assistants.<action>` event for one assistant (router.access); not found if
    the handler's filters exclude it. The value as the handler left it; None when custom auth is off."""
    if access.active() is None:
        return None
    new_value, filters = await access.authorize("assistants", action, value or {"assistant_id": assistant_id})
    if filters is not None:
        found = await store.get(services.pool, assistant_id, graph_ids=services.graph_ids)
        if found is None or not access.matches(found["metadata"], filters):
            raise errors.AssistantNotFoundError(f"Assistant {assistant_id} not found")
    return new_value


async def create(
    services: Services,
    *,
    graph_id: str,
    assistant_id: str | None = None,
    config: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    if_exists: str = "raise",
    name: str | None = None,
    description: str | None = None,
) -> Assistant:
    """Create an assistant (version 1). An existing id is a conflict, or with `if_exists=do_nothing`
    the existing assistant is returned unchanged."""
    _check_graph(services, graph_id)
    cfg, ctx = _config_and_context(config, context)
    assistant_id = canonical_id(assistant_id) if assistant_id else str(uuid.uuid4())
    value, filters = await access.authorize(
        "assistants",
        "create",
        {
            "assistant_id": assistant_id,
            "graph_id": graph_id,
            "config": cfg,
            "context": ctx or {},
            "metadata": metadata or {},
            "name": name or DEFAULT_NAME,
        },
    )
    metadata = value.get("metadata") or metadata
    created = await store.insert(
        services.pool,
        assistant_id=assistant_id,
        graph_id=graph_id,
        config=cfg,
        context=ctx or {},
        metadata=metadata or {},
        name=name or DEFAULT_NAME,
        description=description,
    )
    if created is not None:
        return created
    if if_exists == "do_nothing":
        existing = await store.get(services.pool, assistant_id, graph_ids=services.graph_ids)
        if existing is not None and access.matches(existing["metadata"], filters):
            return existing
    raise errors.AlreadyExistsError(f"Assistant {assistant_id} already exists")


async def get(services: Services, assistant_id: str) -> Assistant:
    _, filters = await access.authorize("assistants", "read", {"assistant_id": assistant_id})
    found = await store.get(services.pool, assistant_id, graph_ids=services.graph_ids)
    if found is None or not access.matches(found["metadata"], filters):
        raise errors.AssistantNotFoundError(f"Assistant {assistant_id} not found")
    return found


def _select(item: Assistant, select: list[str] | None) -> dict[str, Any]:
    if not select:
        return dict(item)
    return {k: v for k, v in item.items() if k in select}


def check_select(select: list[str] | None, allowed: frozenset[str]) -> None:
    """The official 422 for select columns a resource does not have."""
    if not select:
        return
    invalid = [c for c in select if c not in allowed]
    if invalid:
        raise errors.UnprocessableError(f"Invalid select columns: {invalid}. Expected: {set(allowed)}")


async def search(
    services: Services,
    *,
    metadata: dict[str, Any] | None = None,
    graph_id: str | None = None,
    name: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
    select: list[str] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of assistants and the offset of the next page (None on the last page)."""
    check_select(select, SELECT_FIELDS)
    if graph_id is not None:
        _check_graph(services, graph_id)
    order = "asc" if sort_order and sort_order.lower() == "asc" else "desc"
    _, filters = await access.authorize(
        "assistants",
        "search",
        {"graph_id": graph_id, "metadata": metadata or {}, "limit": limit, "offset": offset},
    )
    rows = await store.search(
        services.pool,
        graph_ids=services.graph_ids,
        graph_id=graph_id,
        name=name or None,
        metadata=metadata or None,
        sort_by=sort_by.lower() if sort_by else "created_at",
        sort_order=order,
        limit=limit + 1,
        offset=offset,
        auth=filters,
    )
    next_offset = offset + limit if len(rows) > limit else None
    return [_select(r, select) for r in rows[:limit]], next_offset


async def count(
    services: Services,
    *,
    metadata: dict[str, Any] | None = None,
    graph_id: str | None = None,
    name: str | None = None,
) -> int:
    if graph_id is not None:
        _check_graph(services, graph_id)
    _, filters = await access.authorize(
        "assistants", "search", {"graph_id": graph_id, "metadata": metadata or {}}
    )
    return await store.count(
        services.pool,
        graph_ids=services.graph_ids,
        graph_id=graph_id,
        name=name or None,
        metadata=metadata or None,
        auth=filters,
    )


async def update(
    services: Services,
    assistant_id: str,
    *,
    graph_id: str | None = None,
    config: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Assistant:
    """Write version N+1: given fields replace the current ones (metadata is merged) and it becomes current."""
    if graph_id is not None:
        _check_graph(services, graph_id)
    cfg, ctx = _config_and_context(config, context)
    value = await _authorized(
        services,
        assistant_id,
        "update",
        {
            "assistant_id": assistant_id,
            "graph_id": graph_id,
            "config": cfg,
            "context": ctx,
            "metadata": metadata,
            "name": name,
        },
    )
    if value is not None and value.get("metadata") is not None:
        metadata = value["metadata"]
    _forget(services, assistant_id)
    updated = await store.update(
        services.pool,
        assistant_id,
        graph_id=graph_id,
        config=cfg or None,
        context=ctx,
        metadata=metadata,
        name=name,
        description=description,
    )
    if updated is None:
        raise errors.AssistantNotFoundError(f"Assistant {assistant_id} not found")
    return updated


async def require(services: Services, assistant_id: str) -> None:
    """404 unless the assistant exists (whatever its graph), before work that depends on it."""
    if not await store.exists(services.pool, assistant_id):
        raise errors.AssistantNotFoundError(f"Assistant with ID {assistant_id} not found")


async def delete(services: Services, assistant_id: str) -> None:
    """Delete the assistant and its versions. Runs already created keep their own copy of its
    config (in their kwargs) and finish; the official server interrupts them instead.
    """
    await _authorized(services, assistant_id, "delete")
    _forget(services, assistant_id)
    if not await store.delete(services.pool, assistant_id):
        raise errors.AssistantNotFoundError(f"Assistant with ID {assistant_id} not found")


async def list_versions(
    services: Services,
    assistant_id: str,
    *,
    metadata: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[AssistantVersion]:
    await _authorized(services, assistant_id, "read")
    versions = await store.list_versions(
        services.pool, assistant_id, metadata=metadata or None, limit=limit, offset=offset
    )
    if not versions:
        raise errors.AssistantNotFoundError(f"Assistant {assistant_id} not found")
    return versions


async def set_latest(services: Services, assistant_id: str, version: int) -> Assistant:
    """Make a stored version current again (its fields become the assistant's)."""
    await _authorized(services, assistant_id, "update", {"assistant_id": assistant_id, "version": version})
    _forget(services, assistant_id)
    updated = await store.set_latest(services.pool, assistant_id, version)
    if updated is not None:
        return updated
    if not await store.exists(services.pool, assistant_id):
        raise errors.AssistantNotFoundError(f"Assistant {assistant_id} not found")
    raise errors.NotFoundError(f"Version {version} not found for assistant {assistant_id}")


async def _graph_info(services: Services, request: runtime.GraphInfoRequest) -> Any:
    reply = await services.functions.call(runtime.GRAPH_INFO_REQUESTED, request, runtime.GraphInfo)
    return reply.body


async def get_graph(services: Services, assistant_id_or_graph_id: str, *, xray: bool | int = False) -> Any:
    """The drawable graph as JSON (`nodes`, `edges`); the path also accepts a graph id."""
    value = assistant_id_or_graph_id
    assistant_id = system_assistant_id(value) if value in services.graph_ids else value
    if not ids.is_uuid(assistant_id):
        raise errors.UnprocessableError("Invalid assistant ID: must be a UUID")
    assistant = await get(services, canonical_id(assistant_id))
    request = runtime.GraphInfoRequest(
        graph_id=assistant["graph_id"],
        kind="graph",
        config=assistant["config"],
        context=assistant["context"],
        xray=xray,
    )
    return await _graph_info(services, request)


async def get_subgraphs(
    services: Services, assistant_id: str, *, namespace: str | None = None, recurse: bool = False
) -> Any:
    """`{namespace: schemas}` of the graph's subgraphs (only `namespace` when given)."""
    assistant = await get(services, assistant_id)
    request = runtime.GraphInfoRequest(
        graph_id=assistant["graph_id"],
        kind="subgraphs",
        config=assistant["config"],
        context=assistant["context"],
        namespace=namespace,
        recurse=recurse,
    )
    return await _graph_info(services, request)


async def get_schemas(services: Services, assistant_id: str) -> dict[str, Any]:
    """`graph_id` plus the input, output, state, config and context JSON schemas."""
    assistant = await get(services, assistant_id)
    request = runtime.GraphInfoRequest(
        graph_id=assistant["graph_id"],
        kind="schemas",
        config=assistant["config"],
        context=assistant["context"],
    )
    body = await _graph_info(services, request)
    return {"graph_id": assistant["graph_id"], **(body or {})}
