"""functions.info on real LangGraph graphs: schemas, drawings and subgraphs.

Expected bodies were answered by the official server (langgraph-api 0.16.7, Python 3.11) for these
same graphs, except where it fails on `typing.TypedDict` (null or 500): there the reference is
the same graph declared with `typing_extensions.TypedDict`, i.e. what it answers on Python 3.12+.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import TypeAdapter

from contracts.runtime import GraphInfoRequest
from functions.info import graph_info, pydantic_ready
from tests.functions import state_graphs

PIPELINE_STATE = {
    "properties": {
        "items": {"default": None, "items": {"type": "string"}, "title": "Items", "type": "array"},
        "delay": {"default": None, "title": "Delay", "type": "number"},
    },
    "title": "pipeline_state",
    "type": "object",
}
PIPELINE_IO = {
    "properties": {
        "items": {"items": {"type": "string"}, "title": "Items", "type": "array"},
        "delay": {"title": "Delay", "type": "number"},
    },
    "title": "PipelineState",
    "type": "object",
}
SUBGRAPH_STATE = {**PIPELINE_STATE, "title": "LangGraphState"}  # subgraphs keep LangGraph's default name
WRITER_CONTEXT = {
    "properties": {
        "model": {"default": "small", "title": "Model", "type": "string"},
        "temperature": {"default": 0.0, "title": "Temperature", "type": "number"},
    },
    "title": "WriterContext",
    "type": "object",
}


def _named(graph_id: str, graph: Any = None) -> Any:
    """The graph as the runtime hands it out: unnamed graphs are named after their id."""
    return (graph or getattr(state_graphs, graph_id)).copy(update={"name": graph_id})


async def _info(graph_id: str, graph: Any = None, **fields: Any) -> Any:
    return await graph_info(_named(graph_id, graph), GraphInfoRequest(graph_id=graph_id, **fields))


async def test_typeddict_state_schemas() -> None:
    schemas = await _info("pipeline", kind="schemas")
    assert schemas == {
        "graph_id": "pipeline",
        "input_schema": PIPELINE_IO,
        "output_schema": PIPELINE_IO,
        "state_schema": PIPELINE_STATE,
        "config_schema": {},
        "context_schema": None,
    }
    assert schemas == await _info("pipeline", state_graphs.pipeline_twin(), kind="schemas")


async def test_pydantic_state_with_input_output_and_dataclass_context() -> None:
    assert await _info("topic", kind="schemas") == {
        "graph_id": "topic",
        "input_schema": {
            "properties": {
                "topic": {"description": "what to write about", "title": "Topic", "type": "string"}
            },
            "required": ["topic"],
            "title": "TopicInput",
            "type": "object",
        },
        "output_schema": {
            "properties": {"notes": {"items": {"type": "string"}, "title": "Notes", "type": "array"}},
            "required": ["notes"],
            "title": "TopicOutput",
            "type": "object",
        },
        "state_schema": {
            "properties": {
                "topic": {"default": None, "title": "Topic", "type": "string"},
                "notes": {"default": None, "items": {"type": "string"}, "title": "Notes", "type": "array"},
            },
            "title": "topic_state",
            "type": "object",
        },
        "config_schema": WRITER_CONTEXT,
        "context_schema": WRITER_CONTEXT,
    }


async def test_messages_state_schemas() -> None:
    schemas = await _info("echo", kind="schemas")
    messages = schemas["input_schema"]["properties"]["messages"]
    assert schemas["input_schema"]["title"] == schemas["output_schema"]["title"] == "MessagesState"
    assert schemas["input_schema"]["required"] == ["messages"]
    assert messages["type"] == "array"
    assert {"$ref": "#/$defs/HumanMessage"} in messages["items"]["oneOf"]
    assert {"AIMessage", "HumanMessage", "ToolMessage", "ToolCall"} <= set(schemas["input_schema"]["$defs"])
    assert schemas["state_schema"]["title"] == "echo_state"
    assert schemas["state_schema"]["properties"]["messages"] == {"default": None, **messages}
    assert (schemas["config_schema"], schemas["context_schema"]) == ({}, None)


async def test_typeddict_context_is_the_config_schema_without_server_keys() -> None:
    user = {"user": {"title": "User", "type": "string"}}
    thread_id = {"thread_id": {"title": "Thread Id", "type": "string"}}
    config = {"properties": user, "required": ["user"], "title": "TypedContext", "type": "object"}
    context = {**config, "properties": {**user, **thread_id}}
    schemas = await _info("branching", kind="schemas")
    assert (schemas["config_schema"], schemas["context_schema"]) == (config, context)
    assert schemas["state_schema"] == {**PIPELINE_STATE, "title": "branching_state"}


async def test_a_schema_that_cannot_be_built_is_null(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="functions.info"):
        schemas = await _info("opaque", kind="schemas")
    assert (schemas["input_schema"], schemas["output_schema"]) == (None, None)
    # the state schema still lists every channel; the opaque one accepts anything
    assert schemas["state_schema"]["properties"] == {
        "label": {"default": None, "title": "Label", "type": "string"},
        "handle": {"default": None, "title": "Handle"},
    }
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "cannot build input_schema of graph opaque",
        "cannot build output_schema of graph opaque",
    ]


def test_pydantic_ready_keeps_nesting_requiredness_and_docs() -> None:
    schema = TypeAdapter(pydantic_ready(state_graphs.Profile)).json_schema()
    address = {"properties": {"city": {"title": "City", "type": "string"}}, "required": ["city"]}
    assert schema == {
        "$defs": {"Address": {**address, "title": "Address", "type": "object"}},
        "description": "A user profile.",
        "properties": {
            "name": {"title": "Name", "type": "string"},
            "addresses": {"items": {"$ref": "#/$defs/Address"}, "title": "Addresses", "type": "array"},
            "home": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
            "tags": {"additionalProperties": {"$ref": "#/$defs/Address"}, "title": "Tags", "type": "object"},
        },
        "required": ["name"],
        "title": "Profile",
        "type": "object",
    }
    assert pydantic_ready(int) is int
    assert pydantic_ready(list[int]) == list[int]


def _edges(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"source": s, "target": t} for s, t in pairs]


def _nodes(*names: str) -> list[dict[str, Any]]:
    return [
        {"id": n} if n == "__end__" else {"id": n, "type": "runnable", "data": {"name": n}} for n in names
    ]


async def test_drawing_matches_the_official_answer() -> None:
    # sdk-transcript.json assistants.get_graph, for the same two-step pipeline
    assert await _info("pipeline", kind="graph") == {
        "nodes": _nodes("__start__", "step_a", "step_b", "__end__"),
        "edges": _edges(("__start__", "step_a"), ("step_a", "step_b"), ("step_b", "__end__")),
    }
    branching = await _info("branching", kind="graph")
    assert branching["edges"] == [
        {"source": "__start__", "target": "step_a", "conditional": True},
        {"source": "__start__", "target": "step_b", "conditional": True},
        *_edges(("step_a", "__end__"), ("step_b", "__end__")),
    ]


_A, _B = "middle:child:step_a", "middle:child:step_b"


@pytest.mark.parametrize(
    ("xray", "nodes", "edges"),
    [
        (False, ["__start__", "middle", "__end__"], [("__start__", "middle"), ("middle", "__end__")]),
        (
            1,
            ["__start__", "__end__", "middle:child"],
            [("__start__", "middle:child"), ("middle:child", "__end__")],
        ),
        (True, ["__start__", "__end__", _A, _B], [("__start__", _A), (_B, "__end__"), (_A, _B)]),
        (2, ["__start__", "__end__", _A, _B], [("__start__", _A), (_B, "__end__"), (_A, _B)]),
    ],
)
async def test_xray_expands_subgraph_levels(
    xray: bool | int, nodes: list[str], edges: list[tuple[str, str]]
) -> None:
    # official answers for xray false/1/true; expanded subgraphs come after the parent's start and end
    assert await _info("deep", kind="graph", xray=xray) == {"nodes": _nodes(*nodes), "edges": _edges(*edges)}


@pytest.mark.parametrize(
    ("namespace", "recurse", "found"),
    [
        (None, False, ["middle"]),
        (None, True, ["middle", "middle|child"]),
        ("middle", False, ["middle"]),
        ("middle|child", False, []),
        ("middle|child", True, ["middle|child"]),
        ("nope", True, []),
    ],
)
async def test_subgraphs_by_namespace_and_recursion(
    namespace: str | None, recurse: bool, found: list[str]
) -> None:
    subgraphs = await _info("deep", kind="subgraphs", namespace=namespace, recurse=recurse)
    assert list(subgraphs) == found
    for schemas in subgraphs.values():
        assert schemas == {
            "input_schema": PIPELINE_IO,
            "output_schema": PIPELINE_IO,
            "state_schema": SUBGRAPH_STATE,
            "config_schema": {},
            "context_schema": None,
        }


async def test_graph_without_subgraphs() -> None:
    assert await _info("pipeline", kind="subgraphs", recurse=True) == {}
