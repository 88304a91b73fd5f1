"""The Store API: every operation is a synchronous STORE_REQUESTED CloudEvent to the deployment's
function service, which runs it on the `AsyncPostgresStore` its graphs use (docs/decisions/0005).

The router never touches the store's tables and never loads the embedding function, so items written
by a graph node and through the API are one and the same, and semantic search works the same from
both sides. Each request names the deployment it acts for (router.tenancy); the function keeps
each deployment's items apart (functions.store.DeploymentStore), for graphs and this API alike.
Answers are in the official server's shapes: an item (or None), `{"items": [...]}` search
results with `score`, and `{"namespaces": [[...]]}`.
"""

from __future__ import annotations

from typing import Any, Literal

from contracts import runtime
from router import access, errors, tenancy
from router.services.context import Services

Ttl = float | Literal["default"] | None


async def _call(services: Services, operation: runtime.StoreOperation) -> runtime.StoreResult:
    request = runtime.StoreRequest(operation=operation, deployment_id=tenancy.deployment_id())
    return await services.functions.call(runtime.STORE_REQUESTED, request, runtime.StoreResult)


async def _authorize(action: str, value: dict[str, Any]) -> tuple[dict[str, Any], access.Filters | None]:
    """Custom auth's `store.<action>` event: the request as the handler left it (it may rewrite the
    namespace, as LangGraph's per-user store isolation does) and its filter for searches."""
    if access.active() is None:
        return value, None
    new_value, filters = await access.authorize("store", action, value)
    namespace = new_value.get("namespace")
    if not isinstance(namespace, list) or not all(isinstance(label, str) and label for label in namespace):
        raise errors.UnprocessableError(
            f"namespace: the auth handler left an invalid namespace {namespace!r}"
        )
    # A search filter is one object; a handler's $or cannot be passed on to the store's filter.
    if filters is not None and len(filters) > 1:
        raise errors.AuthHandlerRefusedError(500, "store filters from an auth handler cannot use $or")
    return new_value, filters


async def put_item(
    services: Services,
    namespace: list[str],
    key: str,
    *,
    value: dict[str, Any],
    index: Literal[False] | list[str] | None = None,
    ttl: Ttl = "default",
) -> None:
    """Create or replace the item; `ttl` in minutes, None never expires, "default" the store's."""
    request, _ = await _authorize(
        "put", {"namespace": namespace, "key": key, "value": value, "index": index, "ttl": ttl}
    )
    await _call(
        services,
        runtime.StorePut(
            namespace=request["namespace"],
            key=request["key"],
            value=request["value"],
            index=request["index"],
            ttl=request["ttl"],
        ),
    )


async def get_item(
    services: Services, namespace: list[str], key: str, *, refresh_ttl: bool | None = None
) -> dict[str, Any] | None:
    request, _ = await _authorize("get", {"namespace": namespace, "key": key, "refresh_ttl": refresh_ttl})
    result = await _call(
        services,
        runtime.StoreGet(
            namespace=request["namespace"], key=request["key"], refresh_ttl=request["refresh_ttl"]
        ),
    )
    return result.item.model_dump() if result.item is not None else None


async def delete_item(services: Services, namespace: list[str], key: str) -> None:
    """Delete the item if it exists (deleting a missing item is not an error)."""
    request, _ = await _authorize("delete", {"namespace": namespace, "key": key})
    await _call(services, runtime.StoreDelete(namespace=request["namespace"], key=request["key"]))


async def search_items(
    services: Services,
    namespace_prefix: list[str],
    *,
    filter: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    query: str | None = None,
    refresh_ttl: bool | None = None,
) -> dict[str, Any]:
    """Items under the prefix matching `filter`: newest first, or most similar to `query` first when
    the deployment configures `store.index`."""
    request, auth_filter = await _authorize(
        "search",
        {
            "namespace": namespace_prefix,
            "filter": filter,
            "limit": limit,
            "offset": offset,
            "query": query,
            "refresh_ttl": refresh_ttl,
        },
    )
    wanted = request["filter"]
    if auth_filter == []:  # the handler's filters admit no item
        return {"items": []}
    if auth_filter:  # the handler's filter must hold; on a key both name, the handler's wins
        wanted = {**(wanted or {}), **auth_filter[0]}
    operation = runtime.StoreSearch(
        namespace_prefix=request["namespace"],
        filter=wanted,
        limit=request["limit"],
        offset=request["offset"],
        query=request["query"],
        refresh_ttl=request["refresh_ttl"],
    )
    result = await _call(services, operation)
    return {"items": [item.model_dump() for item in result.items]}


async def list_namespaces(
    services: Services,
    *,
    prefix: list[str] | None = None,
    suffix: list[str] | None = None,
    max_depth: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Distinct namespaces (truncated to `max_depth` labels) matching `prefix` and `suffix`."""
    if access.active() is not None:
        value = {
            "namespace": prefix or [],
            "suffix": suffix,
            "max_depth": max_depth,
            "limit": limit,
            "offset": offset,
        }
        request, _ = await _authorize("list_namespaces", value)
        prefix, suffix = request["namespace"] or None, request["suffix"]
        max_depth, limit, offset = request["max_depth"], request["limit"], request["offset"]
    operation = runtime.StoreListNamespaces(
        prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
    )
    result = await _call(services, operation)
    return {"namespaces": result.namespaces}
