"""Store: put, get, delete and search items, list namespaces (the official `/store` routes).

Status codes and shapes are the official server's: PUT and DELETE answer 204; GET answers the item or
`null` (200) for a missing one, and 400 `Key is required` without a key; search answers
`{"items": [...]}` and namespaces `{"namespaces": [...]}`. GET takes the namespace joined with dots
(`?namespace=a.b&key=k`, as the SDK sends it), so a label can never contain a dot: labels that are
empty or contain `.` are a 422 naming the field everywhere, as is any field or query parameter this
server does not know.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from router import errors
from router.api import deps, responses
from router.api.deps import ServicesDep
from router.services import store as store_service

router = APIRouter(tags=["Store"], dependencies=[deps.InputChecked])

GET_PARAMS = frozenset({"namespace", "key", "refresh_ttl"})
RESERVED_ROOT = "langgraph"  # LangGraph keeps namespaces under this root label for itself


def check_labels(namespace: list[str]) -> list[str]:
    """The official message for a label that is empty or contains a period."""
    if any(not label or "." in label for label in namespace):
        raise ValueError(f"Namespace labels cannot be empty or contain periods. Received: {tuple(namespace)}")
    return namespace


def check_item_namespace(namespace: list[str]) -> list[str]:
    """An item's namespace: at least one label, valid labels, not under LangGraph's own root."""
    if not namespace:
        raise ValueError("Namespace cannot be empty.")
    check_labels(namespace)
    if namespace[0] == RESERVED_ROOT:
        raise ValueError(f'Root label for namespace cannot be "{RESERVED_ROOT}". Got: {tuple(namespace)}')
    return namespace


class _Body(BaseModel):
    # strict: a number is not a string, a string is not a number, and so on (422 naming the field)
    model_config = ConfigDict(extra="forbid", strict=True)


class StorePutRequest(_Body):
    namespace: list[str]
    key: str = Field(min_length=1)
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = Field(default=None, ge=0, description="minutes; null: never expires")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: list[str]) -> list[str]:
        return check_item_namespace(value)


class StoreDeleteRequest(_Body):
    namespace: list[str]
    key: str = Field(min_length=1)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: list[str]) -> list[str]:
        return check_item_namespace(value)


class StoreSearchRequest(_Body):
    namespace_prefix: list[str] | None = None
    filter: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1)
    offset: int = Field(default=0, ge=0)
    query: str | None = None
    refresh_ttl: bool | None = None

    @field_validator("namespace_prefix")
    @classmethod
    def _prefix(cls, value: list[str] | None) -> list[str] | None:
        return check_labels(value) if value is not None else None


class StoreListNamespacesRequest(_Body):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(default=None, ge=1)
    limit: int = Field(default=100, ge=1)
    offset: int = Field(default=0, ge=0)

    @field_validator("prefix", "suffix")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        return check_labels(value) if value is not None else None


@router.put("/store/items", status_code=204)
async def put_item(services: ServicesDep, body: StorePutRequest) -> Response:
    """`ttl` in minutes; an absent `ttl` takes `store.ttl.default_ttl`, an explicit null never expires."""
    await store_service.put_item(
        services,
        body.namespace,
        body.key,
        value=body.value,
        index=body.index,
        ttl=body.ttl if "ttl" in body.model_fields_set else "default",
    )
    return responses.no_content()


@router.get("/store/items")
async def get_item(
    services: ServicesDep,
    request: Request,
    namespace: Annotated[str, Query()] = "",
    key: Annotated[str | None, Query()] = None,
    refresh_ttl: Annotated[bool | None, Query()] = None,
) -> Response:
    unknown = sorted(set(request.query_params) - GET_PARAMS)
    if unknown:
        raise errors.UnprocessableError(f"{', '.join(unknown)}: unsupported query parameter")
    labels = namespace.split(".")
    try:
        check_labels(labels)
    except ValueError as exc:
        raise errors.UnprocessableError(f"namespace: {exc}") from None
    if not key:
        raise errors.InvalidRequestError("Key is required")
    item = await store_service.get_item(services, labels, key, refresh_ttl=refresh_ttl)
    return responses.json(item)


@router.delete("/store/items", status_code=204)
async def delete_item(services: ServicesDep, body: StoreDeleteRequest) -> Response:
    await store_service.delete_item(services, body.namespace, body.key)
    return responses.no_content()


@router.post("/store/items/search")
async def search_items(
    services: ServicesDep, body: Annotated[StoreSearchRequest | None, Body()] = None
) -> Response:
    body = body or StoreSearchRequest()
    found = await store_service.search_items(
        services,
        body.namespace_prefix or [],
        filter=body.filter,
        limit=body.limit,
        offset=body.offset,
        query=body.query,
        refresh_ttl=body.refresh_ttl,
    )
    return responses.json(found)


@router.post("/store/namespaces")
async def list_namespaces(
    services: ServicesDep, body: Annotated[StoreListNamespacesRequest | None, Body()] = None
) -> Response:
    body = body or StoreListNamespacesRequest()
    found = await store_service.list_namespaces(
        services,
        prefix=body.prefix,
        suffix=body.suffix,
        max_depth=body.max_depth,
        limit=body.limit,
        offset=body.offset,
    )
    return responses.json(found)
