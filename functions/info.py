"""What an assistant's graph looks like: JSON schemas, the drawable graph, and its subgraphs.

The shapes are the official server's: schemas are `{input_schema, output_schema, state_schema,
config_schema, context_schema}` (plus `graph_id` for the root graph), each None when it cannot be
built; the state schema is one field per state channel typed by what the channel accepts; the
config schema is the context schema without the keys the server fills in. Drawings are LangGraph's
`Graph.to_json()` with the runnable `id` path removed from node data.

One deliberate improvement: pydantic refuses `typing.TypedDict` before Python 3.12, where the
official server answers null schemas (or 500 for a TypedDict context). Such types are rebuilt as
`typing_extensions.TypedDict` with the same name, keys, requiredness and docstring, so the answer
is what the official server gives on Python 3.12+.
"""

from __future__ import annotations

import logging
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

import typing_extensions
from langchain_core.utils.pydantic import create_model
from langgraph.channels.base import BaseChannel
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from pydantic import TypeAdapter

from contracts.runtime import GraphInfoRequest
from functions.errors import BadRequestError
from functions.serde import to_jsonable

log = logging.getLogger(__name__)

AnyPregel = Pregel[Any, Any, Any, Any]
# Filled in by the server, so never part of the config schema users see.
SERVER_CONFIG_KEYS = (
    "__pregel_checkpointer",
    "__pregel_store",
    "checkpoint_id",
    "checkpoint_ns",
    "thread_id",
)
SCHEMA_KEYS = ("input_schema", "output_schema", "state_schema", "config_schema", "context_schema")
_REBUILD_TYPED_DICTS = sys.version_info < (3, 12)
_REQUIRED = (Required, typing_extensions.Required)
_NOT_REQUIRED = (NotRequired, typing_extensions.NotRequired)
# The functional TypedDict form with a computed name, which type checkers cannot follow.
_typeddict_factory: Any = typing_extensions.TypedDict


class GraphNotDrawableError(BadRequestError):
    """The graph does not support visualization"""


def _is_typing_typeddict(tp: Any) -> bool:
    return typing.is_typeddict(tp) and type(tp).__module__ == "typing"


def _rebuild_typeddict(tp: Any, seen: dict[int, Any]) -> Any:
    seen[id(tp)] = tp  # a self-referencing TypedDict stays as it is (and its schema falls back to None)
    fields: dict[str, Any] = {}
    for key, hint in get_type_hints(tp, include_extras=True).items():
        # Python 3.11 misses Required/NotRequired in string annotations when it computes
        # __required_keys__, so an explicit marker wins over it.
        origin, inner = get_origin(hint), hint
        if origin in _REQUIRED or origin in _NOT_REQUIRED:
            inner = get_args(hint)[0]
            required = origin in _REQUIRED
        else:
            required = key in tp.__required_keys__
        fields[key] = (Required if required else NotRequired)[pydantic_ready(inner, seen)]
    rebuilt = _typeddict_factory(tp.__name__, fields)
    rebuilt.__module__, rebuilt.__qualname__, rebuilt.__doc__ = tp.__module__, tp.__qualname__, tp.__doc__
    if hasattr(tp, "__pydantic_config__"):
        rebuilt.__pydantic_config__ = tp.__pydantic_config__
    seen[id(tp)] = rebuilt
    return rebuilt


def pydantic_ready(tp: Any, seen: dict[int, Any] | None = None) -> Any:
    """`tp` with each `typing.TypedDict` inside it rebuilt so pydantic accepts it (Python < 3.12)."""
    if not _REBUILD_TYPED_DICTS:
        return tp
    seen = {} if seen is None else seen
    if id(tp) in seen:
        return seen[id(tp)]
    if _is_typing_typeddict(tp):
        return _rebuild_typeddict(tp, seen)
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or origin is Literal or not args or any(isinstance(a, list) for a in args):
        return tp  # plain classes, literals and Callable[[...], ...] hold no TypedDict to fix
    if origin is typing.Annotated:
        return typing.Annotated[(pydantic_ready(args[0], seen), *tp.__metadata__)]
    new_args = tuple(pydantic_ready(a, seen) for a in args)
    if all(n is a for n, a in zip(new_args, args, strict=True)):
        return tp
    if origin in (Union, types.UnionType):
        return Union[new_args]  # noqa: UP007  # rebuilt from a tuple of members
    if isinstance(tp, types.GenericAlias):
        return types.GenericAlias(origin, new_args)
    return tp.copy_with(new_args)


def _type_jsonschema(tp: Any) -> dict[str, Any]:
    return TypeAdapter(pydantic_ready(tp)).json_schema()


def _io_jsonschema(graph: AnyPregel, which: Literal["input", "output"]) -> dict[str, Any]:
    if isinstance(graph, CompiledStateGraph):
        declared = graph.builder.input_schema if which == "input" else graph.builder.output_schema
        if _is_typing_typeddict(declared):
            return _type_jsonschema(declared)  # what LangGraph does for any TypedDict
    return graph.get_input_jsonschema() if which == "input" else graph.get_output_jsonschema()


def _state_jsonschema(graph: AnyPregel) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in graph.stream_channels_list:
        channel = graph.channels[key]
        if not isinstance(channel, BaseChannel):
            continue
        update_type = pydantic_ready(channel.UpdateType)
        try:
            create_model(key, __root__=(update_type, None)).model_json_schema()
        except Exception:  # a type pydantic cannot describe is shown as "any"
            update_type = Any
        fields[key] = (update_type, None)
    return create_model(graph.get_name("State"), **fields).model_json_schema()


def _config_jsonschema(graph: AnyPregel) -> dict[str, Any]:
    if graph.context_schema is None:
        return {}
    schema = _type_jsonschema(graph.context_schema)
    for key in SERVER_CONFIG_KEYS:
        schema.get("properties", {}).pop(key, None)
    return schema


def _context_jsonschema(graph: AnyPregel) -> dict[str, Any] | None:
    if graph.context_schema is None:
        return None
    if _is_typing_typeddict(graph.context_schema):
        return _type_jsonschema(graph.context_schema)
    return graph.get_context_jsonschema()


def graph_schemas(graph: AnyPregel) -> dict[str, Any]:
    """The five schemas of `graph`; one that cannot be built is None (and logged), never an error."""
    builders: dict[str, Callable[[], dict[str, Any] | None]] = {
        "input_schema": lambda: _io_jsonschema(graph, "input"),
        "output_schema": lambda: _io_jsonschema(graph, "output"),
        "state_schema": lambda: _state_jsonschema(graph),
        "config_schema": lambda: _config_jsonschema(graph),
        "context_schema": lambda: _context_jsonschema(graph),
    }
    schemas: dict[str, Any] = {}
    for name, build in builders.items():
        try:
            schemas[name] = build()
        except Exception as exc:  # user types can break schema generation in any way
            log.warning("cannot build %s of graph %s: %r", name, graph.name, exc)
            schemas[name] = None
    return schemas


async def draw_graph(graph: AnyPregel, *, xray: bool | int = False) -> dict[str, Any]:
    """The drawable graph JSON; `xray` expands subgraphs (True: all levels, n: n levels)."""
    try:
        drawable = await graph.aget_graph(xray=xray)
    except NotImplementedError as exc:
        raise GraphNotDrawableError() from exc
    drawn = drawable.to_json()
    for node in drawn.get("nodes", []):
        data = node.get("data")
        if isinstance(data, dict):
            data.pop("id", None)
    return drawn


async def subgraph_schemas(graph: AnyPregel, *, namespace: str | None, recurse: bool) -> dict[str, Any]:
    """`{namespace: schemas}` of the subgraphs (namespaces joined with `|`, without task ids)."""
    try:
        return {
            ns: graph_schemas(sub) if isinstance(sub, Pregel) else dict.fromkeys(SCHEMA_KEYS)
            async for ns, sub in graph.aget_subgraphs(namespace=namespace, recurse=recurse)
        }
    except NotImplementedError as exc:
        raise GraphNotDrawableError() from exc


async def graph_info(graph: AnyPregel, req: GraphInfoRequest) -> Any:
    """The body the official server answers for …/schemas, …/graph or …/subgraphs."""
    if req.kind == "schemas":
        body: Any = {"graph_id": req.graph_id, **graph_schemas(graph)}
    elif req.kind == "graph":
        body = await draw_graph(graph, xray=req.xray)
    else:
        body = await subgraph_schemas(graph, namespace=req.namespace, recurse=req.recurse)
    return to_jsonable(body)
