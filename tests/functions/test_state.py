"""functions.state against real LangGraph graphs checkpointed in a real Postgres database.

Expected answers follow the official server's (captures/sdk-transcript.json and a run of
langgraph-api 0.16.7 on these same graphs); ids and timestamps are taken from the answers themselves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from contracts.runtime import StateGetRequest, StateHistoryRequest, StateUpdateRequest, StateUpdateResult
from functions.checkpoints import Persistence, open_persistence
from functions.errors import BadRequestError, CheckpointNotFoundError
from functions.state import get_history, get_state, update_state
from tests.functions import state_graphs

THREAD_STATE_KEYS = [
    "values", "next", "tasks", "metadata", "created_at", "checkpoint", "parent_checkpoint",
    "interrupts", "checkpoint_id", "parent_checkpoint_id",
]  # fmt: skip
TASK_KEYS = ["id", "name", "path", "error", "interrupts", "checkpoint", "state", "result"]
Attach = Callable[[str], Any]


@pytest.fixture
async def persistence(pg_dsn: str) -> AsyncIterator[Persistence]:
    async with open_persistence(pg_dsn, max_size=4) as p:
        yield p


@pytest.fixture
def attach(persistence: Persistence) -> Attach:
    def _attach(graph_id: str) -> Any:
        graph = getattr(state_graphs, graph_id)
        update = {"checkpointer": persistence.checkpointer, "store": persistence.store, "name": graph_id}
        return graph.copy(update=update)

    return _attach


async def _run(graph: Any, values: dict[str, Any]) -> tuple[str, Any]:
    thread_id = str(uuid.uuid4())
    result = await graph.ainvoke(values, {"configurable": {"thread_id": thread_id}})
    return thread_id, result


async def _state(graph: Any, thread_id: str, **fields: Any) -> Any:
    return await get_state(graph, StateGetRequest(graph_id=graph.name, thread_id=thread_id, **fields))


async def _history(graph: Any, thread_id: str, **fields: Any) -> list[Any]:
    return await get_history(graph, StateHistoryRequest(graph_id=graph.name, thread_id=thread_id, **fields))


async def _update(graph: Any, thread_id: str, **fields: Any) -> StateUpdateResult:
    return await update_state(graph, StateUpdateRequest(graph_id=graph.name, thread_id=thread_id, **fields))


def _steps(states: list[Any]) -> list[int]:
    return [s["metadata"]["step"] for s in states]


async def test_interrupted_thread_state_has_the_official_shape(attach: Attach) -> None:
    graph = attach("hitl")
    thread_id, result = await _run(graph, {"items": ["q"]})
    state = await _state(graph, thread_id)

    assert list(state) == THREAD_STATE_KEYS
    interrupt = {"id": result["__interrupt__"][0].id, "value": {"question": "approve?", "items": ["q"]}}
    [task] = state["tasks"]
    assert list(task) == TASK_KEYS
    assert task == {
        "id": task["id"], "name": "ask", "path": ["__pregel_pull", "ask"], "error": None,
        "interrupts": [interrupt], "checkpoint": None, "state": None, "result": None,
    }  # fmt: skip
    assert state["values"] == {"items": ["q"]}
    assert state["next"] == ["ask"]
    assert state["interrupts"] == [interrupt]
    assert state["metadata"] == {"step": 0, "source": "loop", "parents": {}}
    assert state["checkpoint"] == {
        "checkpoint_id": state["checkpoint_id"], "thread_id": thread_id, "checkpoint_ns": "",
    }  # fmt: skip
    assert state["parent_checkpoint"]["checkpoint_id"] == state["parent_checkpoint_id"]
    assert state["parent_checkpoint_id"] < state["checkpoint_id"]
    assert isinstance(state["created_at"], str)
    assert json.loads(json.dumps(state)) == state


async def test_subgraph_task_carries_its_checkpoint_or_its_nested_state(attach: Attach) -> None:
    graph = attach("nested_hitl")
    thread_id, _ = await _run(graph, {"items": ["q"]})

    flat = await _state(graph, thread_id)
    [task] = flat["tasks"]
    assert task["checkpoint"] == {"thread_id": thread_id, "checkpoint_ns": f"inner:{task['id']}"}
    assert task["state"] is None
    assert flat["interrupts"] == task["interrupts"] != []

    deep = await _state(graph, thread_id, subgraphs=True)
    [deep_task] = deep["tasks"]
    nested = deep_task["state"]
    assert deep_task["checkpoint"] is None
    assert list(nested) == THREAD_STATE_KEYS
    assert nested["next"] == ["ask"]
    assert nested["values"] == {"items": ["q", "pre"]}
    assert nested["checkpoint"]["checkpoint_ns"] == f"inner:{task['id']}"
    assert nested["checkpoint"]["checkpoint_map"][""] == flat["checkpoint_id"]
    assert nested["tasks"][0]["interrupts"] == task["interrupts"]

    # the task's checkpoint addresses the subgraph's own state
    at_ns = await _state(graph, thread_id, checkpoint=task["checkpoint"])
    assert at_ns == {**nested, "metadata": at_ns["metadata"]}
    assert at_ns["metadata"]["parents"] == {"": flat["checkpoint_id"]}


async def test_state_at_a_checkpoint_id(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    history = await _history(graph, thread_id)
    older = history[2]

    state = await _state(graph, thread_id, checkpoint={"checkpoint_id": older["checkpoint_id"]})
    assert state == older
    assert state["values"] == {"items": ["x"]}
    assert state["next"] == ["step_a"]
    assert state["tasks"][0]["result"] == {"items": ["a"]}


async def test_missing_checkpoint_and_new_thread_read_as_empty_state(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    missing = "1f1e5919-0000-6000-8000-000000000000"

    state = await _state(graph, thread_id, checkpoint={"checkpoint_id": missing})
    assert state == {
        "values": {}, "next": [], "tasks": [], "metadata": None, "created_at": None,
        "checkpoint": {"checkpoint_id": missing, "thread_id": thread_id}, "parent_checkpoint": None,
        "interrupts": [], "checkpoint_id": missing, "parent_checkpoint_id": None,
    }  # fmt: skip
    fresh = await _state(graph, str(uuid.uuid4()))
    assert (fresh["values"], fresh["checkpoint"], fresh["checkpoint_id"]) == ({}, None, None)


async def test_failed_task_and_messages_are_plain_json(attach: Attach) -> None:
    failing = attach("failing")
    thread_id = str(uuid.uuid4())
    with pytest.raises(ValueError, match="boom"):
        await failing.ainvoke({"items": ["q"]}, {"configurable": {"thread_id": thread_id}})
    state = await _state(failing, thread_id)
    assert [(t["name"], t["error"]) for t in state["tasks"]] == [("explode", "ValueError('boom')")]

    echo = attach("echo")
    thread_id, _ = await _run(echo, {"messages": [{"role": "human", "content": "hi"}]})
    messages = (await _state(echo, thread_id))["values"]["messages"]
    assert [(m["type"], m["content"]) for m in messages] == [("human", "hi"), ("ai", "echo: hi")]
    assert set(messages[1]) >= {"id", "tool_calls", "invalid_tool_calls", "usage_metadata"}


async def test_history_is_newest_first_with_limit_before_and_metadata(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})

    history = await _history(graph, thread_id)
    assert _steps(history) == [2, 1, 0, -1]
    assert [h["parent_checkpoint_id"] for h in history] == [h["checkpoint_id"] for h in history[1:]] + [None]
    assert history[0] == await _state(graph, thread_id)

    assert _steps(await _history(graph, thread_id, limit=2)) == [2, 1]
    assert await _history(graph, thread_id, limit=2, before=history[1]["checkpoint"]) == history[2:]
    assert await _history(graph, thread_id, before={"configurable": history[2]["checkpoint"]}) == history[3:]
    assert await _history(graph, thread_id, metadata={"source": "input"}) == history[3:]
    assert _steps(await _history(graph, thread_id, metadata={"source": "loop"})) == [2, 1, 0]
    assert await _history(graph, thread_id, metadata={"source": "update"}) == []


async def test_history_of_a_subgraph_namespace(attach: Attach) -> None:
    graph = attach("nested_hitl")
    thread_id, _ = await _run(graph, {"items": ["q"]})
    root = await _state(graph, thread_id)
    namespace = root["tasks"][0]["checkpoint"]

    history = await _history(graph, thread_id, checkpoint=namespace)
    assert _steps(history) == [0, -1]
    assert {h["checkpoint"]["checkpoint_ns"] for h in history} == {namespace["checkpoint_ns"]}
    assert _steps(await _history(graph, thread_id)) == [1, 0, -1]


async def test_update_as_node_is_reflected_in_state(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    before = await _state(graph, thread_id)

    result = await _update(graph, thread_id, values={"items": ["manual"]}, as_node="step_a")
    state = await _state(graph, thread_id)
    assert result.checkpoint == {
        "thread_id": thread_id,
        "checkpoint_ns": "",
        "checkpoint_id": state["checkpoint_id"],
    }
    assert (result.values, result.next, result.interrupts) == (
        {"items": ["x", "a", "b", "manual"]},
        ["step_b"],
        {},
    )
    assert state["values"] == result.values
    assert state["next"] == ["step_b"]
    assert state["parent_checkpoint_id"] == before["checkpoint_id"]
    assert state["metadata"] == {"source": "update", "step": 3, "parents": {}, "graph_id": "pipeline"}


async def test_update_from_an_older_checkpoint_forks(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    history = await _history(graph, thread_id)
    base = history[2]  # step 0: before step_a ran

    fork_from = {"checkpoint_id": base["checkpoint_id"]}
    result = await _update(
        graph, thread_id, values={"items": ["fork"]}, as_node="step_a", checkpoint=fork_from
    )
    state = await _state(graph, thread_id)
    assert state["checkpoint_id"] == result.checkpoint["checkpoint_id"]
    assert state["parent_checkpoint_id"] == base["checkpoint_id"]
    assert state["values"] == result.values == {"items": ["x", "fork"]}
    assert state["next"] == result.next == ["step_b"]


async def test_update_resolving_an_interrupt_clears_it(attach: Attach) -> None:
    graph = attach("hitl")
    thread_id, _ = await _run(graph, {"items": ["q"]})
    result = await _update(graph, thread_id, values={"items": ["edited"]}, as_node="ask")
    assert (result.values, result.next, result.interrupts) == ({"items": ["q", "edited"]}, ["finish"], {})


async def test_update_inside_a_subgraph_keeps_the_root_interrupt_pending(attach: Attach) -> None:
    graph = attach("nested_hitl")
    thread_id, run = await _run(graph, {"items": ["q"]})
    root = await _state(graph, thread_id)
    [task] = root["tasks"]

    sub = task["checkpoint"]
    result = await _update(graph, thread_id, checkpoint=sub, values={"items": ["sub"]}, as_node="ask")
    assert result.checkpoint["checkpoint_ns"] == f"inner:{task['id']}"
    assert result.checkpoint["checkpoint_map"][""] == root["checkpoint_id"]
    interrupt = run["__interrupt__"][0]
    assert result.interrupts == {task["id"]: [{"id": interrupt.id, "value": interrupt.value}]}
    assert (result.values, result.next) == ({"items": ["q", "pre"]}, ["inner"])
    inner = await _state(graph, thread_id, checkpoint=task["checkpoint"])
    assert (inner["values"], inner["next"]) == ({"items": ["q", "pre", "sub"]}, ["finish"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"values": {"items": ["x"]}, "as_node": "nope"}, "Node nope does not exist"),
        (
            {"values": {"items": ["x"]}, "as_node": "step_a", "checkpoint": {"checkpoint_ns": "nope:1"}},
            "Subgraph nope",
        ),
        ({"supersteps": []}, "No supersteps provided"),
        ({"supersteps": [{"updates": []}]}, "No updates provided"),
        ({"supersteps": [{"nothing": 1}]}, "list of updates"),
        ({"supersteps": [{"updates": [{"values": {}, "as_node": "step_a"}]}], "as_node": "step_a"}, "either"),
        (
            {"supersteps": [{"updates": [{"command": {"goto": {"to": "x"}}, "as_node": "step_a"}]}]},
            "Invalid goto",
        ),
        ({"supersteps": [{"updates": [{"command": "resume", "as_node": "step_a"}]}]}, "Invalid command"),
    ],
)
async def test_invalid_updates_are_bad_requests(attach: Attach, change: dict[str, Any], message: str) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    with pytest.raises(BadRequestError, match=message):
        await _update(graph, thread_id, **change)


async def test_update_from_a_missing_checkpoint_is_not_found(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    missing = {"checkpoint_id": "1f1e5919-0000-6000-8000-000000000000"}
    with pytest.raises(CheckpointNotFoundError, match=missing["checkpoint_id"]):
        await _update(graph, thread_id, values={"items": ["y"]}, as_node="step_a", checkpoint=missing)
    history = await _history(graph, thread_id)
    assert _steps(history) == [2, 1, 0, -1]  # nothing was written


async def test_supersteps_apply_in_order_on_a_new_thread(attach: Attach) -> None:
    graph = attach("hitl")
    thread_id = str(uuid.uuid4())
    supersteps = [
        {"updates": [{"values": {"items": ["start"]}, "as_node": "__input__"}]},
        {"updates": [{"values": {"items": ["asked"]}, "as_node": "ask"}]},
        {"updates": [{"command": {"update": {"items": ["cmd"]}}, "as_node": "finish"}]},
        {"updates": [{"command": {"update": [["items", ["pair"]]]}, "as_node": "finish"}]},  # JSON of tuples
    ]
    result = await _update(graph, thread_id, supersteps=supersteps)

    history = await _history(graph, thread_id)
    assert [(h["metadata"]["source"], h["metadata"]["step"]) for h in history] == [
        ("update", 2), ("update", 1), ("update", 0), ("input", -1),
    ]  # fmt: skip
    assert history[0]["checkpoint"] == result.checkpoint
    # the input superstep only fills __start__; the node updates land in the state
    assert result.values == history[0]["values"] == {"items": ["asked", "cmd", "pair"]}
    assert result.next == history[0]["next"] == []


async def test_copy_superstep_forks_the_latest_checkpoint(attach: Attach) -> None:
    graph = attach("pipeline")
    thread_id, _ = await _run(graph, {"items": ["x"]})
    latest = await _state(graph, thread_id)

    result = await _update(
        graph, thread_id, supersteps=[{"updates": [{"values": None, "as_node": "__copy__"}]}]
    )
    copied = await _state(graph, thread_id)
    assert copied["checkpoint_id"] == result.checkpoint["checkpoint_id"] != latest["checkpoint_id"]
    assert copied["values"] == latest["values"]
    assert copied["parent_checkpoint_id"] == latest["parent_checkpoint_id"]
    assert copied["metadata"]["source"] == "fork"
