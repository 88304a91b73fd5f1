"""The Store API's operations, run on the function's own `AsyncPostgresStore` (docs/decisions/0005).

`store_options` turns the `store` section of langgraph.json into the store's index and TTL settings;
it loads the embedding function, which is user code, so only the function service ever does. `execute`
runs one `StoreRequest` and answers a `StoreResult` in the official server's item shapes.

TTL: an item put with `ttl` (minutes) expires that long after its last write, or its last read when
reads refresh (`refresh_ttl`, default `store.ttl.refresh_on_read`). Expired items are never answered,
even before a sweep deletes them (LangGraph's `omit_expired`); the sweeper runs only when
`store.ttl.sweep_interval_minutes` is set.

Deployments: `DeploymentStore` wraps the store graphs and the Store API use, so that work acting for
a deployment (`acting_for`, from the `deployment_id` of a RunRequest or a StoreRequest; the default
deployment when none is named) reads and writes only under the namespace label `deployment-<id>`,
which answers leave out. The default deployment is scoped like every other, so none can name
another's items, and a search or namespace listing from one never sees another's; items written before
tenancy are moved under the default deployment's label by `checkpoints.setup` (`SCOPE_LEGACY_ITEMS`).
It is the one place that rule lives: the router sends the deployment and nothing else.
"""

from __future__ import annotations

import contextvars
import copy
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
)
from langgraph.store.base.embed import ensure_embeddings
from langgraph.store.postgres.base import PostgresIndexConfig

from contracts import runtime as rt
from contracts.app_config import StoreConfig
from functions.errors import StoreConfigError, StoreRequestError
from functions.graphs import load_object

logger = logging.getLogger(__name__)

EMBED_FILE_MARK = ".py:"  # `path/to/file.py:function`; anything else is a LangChain `provider:model`
DEPLOYMENT_LABEL_PREFIX = "deployment-"


def scope_of(deployment_id: str | None) -> tuple[str, ...]:
    """The namespace labels a deployment's items live under: `deployment-<id>` (None: the default
    deployment)."""
    return (f"{DEPLOYMENT_LABEL_PREFIX}{deployment_id or rt.DEFAULT_DEPLOYMENT_ID}",)


DEFAULT_SCOPE = scope_of(None)
_scope: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "langopen_store_scope", default=None
)


@contextmanager
def acting_for(deployment_id: str | None) -> Iterator[None]:
    """Inside the block (and the tasks and threads it starts), the DeploymentStore sees only
    `deployment_id`'s items."""
    token = _scope.set(scope_of(deployment_id))
    try:
        yield
    finally:
        _scope.reset(token)


def _scoped_conditions(op: ListNamespacesOp, scope: tuple[str, ...]) -> tuple[MatchCondition, ...]:
    conditions = [
        MatchCondition(match_type="prefix", path=scope + tuple(c.path)) if c.match_type == "prefix" else c
        for c in op.match_conditions or ()
    ]
    if not any(c.match_type == "prefix" for c in conditions):
        conditions.insert(0, MatchCondition(match_type="prefix", path=scope))
    return tuple(conditions)


def _scoped_op(op: Op, scope: tuple[str, ...]) -> Op:
    if isinstance(op, GetOp | PutOp):
        return op._replace(namespace=scope + tuple(op.namespace))
    if isinstance(op, SearchOp):
        return op._replace(namespace_prefix=scope + tuple(op.namespace_prefix))
    if isinstance(op, ListNamespacesOp):
        depth = op.max_depth + len(scope) if op.max_depth is not None else None
        return op._replace(match_conditions=_scoped_conditions(op, scope), max_depth=depth)
    raise TypeError(f"unknown store operation {type(op).__name__}")


def _unscoped_item(item: Item, depth: int) -> Item:
    answered = copy.copy(item)
    answered.namespace = tuple(item.namespace[depth:])
    return answered


def _unscoped_result(result: Result, depth: int) -> Result:
    if isinstance(result, Item):
        return _unscoped_item(result, depth)
    if isinstance(result, list) and result and isinstance(result[0], Item):
        return [_unscoped_item(item, depth) for item in cast(list[Item], result)]
    if isinstance(result, list):
        return [tuple(ns[depth:]) for ns in cast(list[tuple[str, ...]], result)]
    return result


class DeploymentStore(BaseStore):
    """The store of the deployment the current work acts for (`acting_for`): every namespace gets the
    deployment's labels in front, every answer has them taken off."""

    def __init__(self, inner: BaseStore) -> None:
        self.inner = inner
        self.supports_ttl = inner.supports_ttl
        self.ttl_config = inner.ttl_config

    def _scoped(self, ops: Iterable[Op]) -> tuple[tuple[str, ...], list[Op]]:
        scope = _scope.get() or DEFAULT_SCOPE
        return scope, [_scoped_op(op, scope) for op in ops]

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        scope, scoped = self._scoped(ops)
        results = self.inner.batch(scoped)
        return [_unscoped_result(r, len(scope)) for r in results]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        scope, scoped = self._scoped(ops)
        results = await self.inner.abatch(scoped)
        return [_unscoped_result(r, len(scope)) for r in results]


@dataclass(frozen=True)
class StoreOptions:
    """What `functions.checkpoints.open_persistence` builds the store with."""

    index: PostgresIndexConfig | None
    ttl: TTLConfig
    sweep_interval_minutes: float | None = None


def _embeddings(spec: str, base: Path) -> Embeddings:
    try:
        if EMBED_FILE_MARK not in spec:
            return ensure_embeddings(spec)  # needs the `langchain` package and the provider's
        embed = load_object(spec, base)
    except Exception as exc:  # user code: any import-time error is a config error
        raise StoreConfigError(f"store.index.embed: cannot load {spec!r}: {exc}") from exc
    if not callable(embed) and not isinstance(embed, Embeddings):
        raise StoreConfigError(f"store.index.embed: {spec!r} is {type(embed).__name__}, not a function")
    return ensure_embeddings(embed)


def store_options(config: StoreConfig, base: Path) -> StoreOptions:
    """The store's settings for `config`; `base` is the folder of langgraph.json."""
    ttl: TTLConfig = {"refresh_on_read": True, "omit_expired": True}
    sweep: float | None = None
    if config.ttl is not None:
        ttl["refresh_on_read"] = config.ttl.refresh_on_read
        ttl["default_ttl"] = config.ttl.default_ttl
        sweep = config.ttl.sweep_interval_minutes
    index: PostgresIndexConfig | None = None
    if config.index is not None:
        index = {"dims": config.index.dims, "embed": _embeddings(config.index.embed, base)}
        if config.index.fields is not None:
            index["fields"] = config.index.fields
    return StoreOptions(index=index, ttl=ttl, sweep_interval_minutes=sweep)


def _timestamp(moment: datetime) -> str:
    # Postgres answers in the session's time zone; the official server answers UTC.
    return moment.astimezone(UTC).isoformat()


def _item(item: Item) -> rt.StoreItem:
    return rt.StoreItem(
        namespace=list(item.namespace),
        key=item.key,
        value=item.value,
        created_at=_timestamp(item.created_at),
        updated_at=_timestamp(item.updated_at),
    )


def _ttl(ttl: float | str | None) -> float | NotProvided | None:
    return NOT_PROVIDED if ttl == "default" else (float(ttl) if ttl is not None else None)


async def _put(store: BaseStore, op: rt.StorePut) -> rt.StoreResult:
    await store.aput(tuple(op.namespace), op.key, op.value, index=op.index, ttl=_ttl(op.ttl))
    return rt.StoreResult(op="put")


async def _get(store: BaseStore, op: rt.StoreGet) -> rt.StoreResult:
    found = await store.aget(tuple(op.namespace), op.key, refresh_ttl=op.refresh_ttl)
    return rt.StoreResult(op="get", item=_item(found) if found is not None else None)


async def _delete(store: BaseStore, op: rt.StoreDelete) -> rt.StoreResult:
    await store.adelete(tuple(op.namespace), op.key)
    return rt.StoreResult(op="delete")


async def _search(store: BaseStore, op: rt.StoreSearch) -> rt.StoreResult:
    found = await store.asearch(
        tuple(op.namespace_prefix),
        query=op.query,
        filter=op.filter,
        limit=op.limit,
        offset=op.offset,
        refresh_ttl=op.refresh_ttl,
    )
    items = [rt.StoreSearchItem(**_item(item).model_dump(), score=item.score) for item in found]
    return rt.StoreResult(op="search", items=items)


async def _list_namespaces(store: BaseStore, op: rt.StoreListNamespaces) -> rt.StoreResult:
    found = await store.alist_namespaces(
        prefix=tuple(op.prefix) if op.prefix else None,
        suffix=tuple(op.suffix) if op.suffix else None,
        max_depth=op.max_depth,
        limit=op.limit,
        offset=op.offset,
    )
    return rt.StoreResult(op="list_namespaces", namespaces=[list(ns) for ns in found])


async def _run(store: BaseStore, op: rt.StoreOperation) -> rt.StoreResult:
    if isinstance(op, rt.StorePut):
        return await _put(store, op)
    if isinstance(op, rt.StoreGet):
        return await _get(store, op)
    if isinstance(op, rt.StoreDelete):
        return await _delete(store, op)
    if isinstance(op, rt.StoreSearch):
        return await _search(store, op)
    return await _list_namespaces(store, op)


async def execute(store: BaseStore, req: rt.StoreRequest) -> rt.StoreResult:
    """Run one store operation. Operations the store refuses (a namespace it does not accept, an
    unknown filter operator) raise StoreRequestError with the store's message. The operation acts for
    the request's deployment (a DeploymentStore sees only that deployment's items)."""
    try:
        with acting_for(req.deployment_id):
            return await _run(store, req.operation)
    except (InvalidNamespaceError, ValueError) as exc:
        raise StoreRequestError(str(exc)) from exc
