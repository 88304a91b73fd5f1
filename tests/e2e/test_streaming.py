"""Streaming runs: every stream mode with the official event names and payload shapes, subgraph
event names, headers, and the SSE bytes themselves (contract §3.1-3.2; captures sse-sample.txt,
sdk-transcript.json, http/echo_messages_modes.txt, http/subgraphs_stream.txt, http/wait_slow.txt)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import HEARTBEAT, new_thread, parse_body, raw_client, run_id_of
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

TASK_START_KEYS = {"id", "name", "input", "triggers", "metadata"}
TASK_RESULT_KEYS = {"id", "name", "error", "result", "interrupts"}
CHECKPOINT_KEYS = {"config", "parent_config", "values", "metadata", "next", "tasks"}
MESSAGE_KEYS = {
    "content",
    "additional_kwargs",
    "response_metadata",
    "type",
    "name",
    "id",
    "tool_calls",
    "invalid_tool_calls",
    "usage_metadata",
}

# Event names the official server sent for graph `agent` (sse-sample.txt, sdk-transcript.json).
AGENT_SEQUENCES: list[tuple[Any, list[str]]] = [
    ("values", ["metadata", "values", "values", "values"]),
    ("updates", ["metadata", "updates", "updates"]),
    ("custom", ["metadata", "custom"]),
    (["custom", "tasks"], ["metadata", "tasks", "custom", "tasks", "tasks", "tasks"]),
    (
        ["values", "updates", "custom", "tasks"],
        [
            "metadata",
            "values",
            "tasks",
            "custom",
            "updates",
            "tasks",
            "values",
            "tasks",
            "updates",
            "tasks",
            "values",
        ],
    ),
    (
        ["values", "updates", "custom"],
        ["metadata", "values", "custom", "updates", "values", "updates", "values"],
    ),
    ("checkpoints", ["metadata", "checkpoints", "checkpoints", "checkpoints", "checkpoints"]),
    ("debug", ["metadata"] + ["debug"] * 8),
    ("events", ["metadata"] + ["events"] * 8),
    ("messages-tuple", ["metadata"]),  # no messages in this graph
]


async def stream(client: LangGraphClient, graph: str, body: dict[str, Any], **kwargs: Any) -> list[Any]:
    thread_id = await new_thread(client)
    return [part async for part in client.runs.stream(thread_id, graph, input=body, **kwargs)]


def check_metadata_first(parts: list[Any]) -> str:
    assert parts[0].event == "metadata"
    assert set(parts[0].data) == {"run_id", "attempt"}
    assert parts[0].data["attempt"] == 1
    return str(parts[0].data["run_id"])


@pytest.mark.parametrize(("mode", "names"), AGENT_SEQUENCES, ids=lambda v: str(v))
async def test_agent_event_names(client: LangGraphClient, mode: Any, names: list[str]) -> None:
    parts = await stream(client, "agent", {"items": ["x"]}, stream_mode=mode)
    check_metadata_first(parts)
    assert [p.event for p in parts] == names
    assert all(p.id is None for p in parts)  # not resumable: no ids


async def test_values_updates_custom_tasks_payloads(client: LangGraphClient) -> None:
    parts = await stream(
        client, "agent", {"items": ["x"]}, stream_mode=["values", "updates", "custom", "tasks"]
    )
    run_id = check_metadata_first(parts)
    by_event: dict[str, list[Any]] = {}
    for part in parts[1:]:
        by_event.setdefault(part.event, []).append(part.data)
    assert by_event["values"] == [{"items": ["x"]}, {"items": ["x", "a"]}, {"items": ["x", "a", "b"]}]
    assert by_event["updates"] == [{"step_a": {"items": ["a"]}}, {"step_b": {"items": ["b"]}}]
    assert by_event["custom"] == [{"progress": "a-start"}]
    starts, results = by_event["tasks"][0::2], by_event["tasks"][1::2]
    assert [set(t) for t in starts] == [TASK_START_KEYS] * 2
    assert [set(t) for t in results] == [TASK_RESULT_KEYS] * 2
    assert [t["name"] for t in starts] == ["step_a", "step_b"]
    assert starts[0]["input"] == {"items": ["x"]}
    assert starts[0]["triggers"] == ["branch:to:step_a"]
    assert starts[0]["metadata"]["run_id"] == run_id
    assert starts[0]["metadata"]["graph_id"] == "agent"
    assert [r["id"] for r in results] == [s["id"] for s in starts]
    assert results[0] == {
        "id": starts[0]["id"],
        "name": "step_a",
        "error": None,
        "result": {"items": ["a"]},
        "interrupts": [],
    }


async def test_checkpoints_and_debug_payloads(client: LangGraphClient) -> None:
    parts = await stream(client, "agent", {"items": ["x"]}, stream_mode="checkpoints")
    checkpoints = [p.data for p in parts[1:]]
    assert [set(c) for c in checkpoints] == [CHECKPOINT_KEYS] * 4
    assert [(c["metadata"]["source"], c["metadata"]["step"]) for c in checkpoints] == [
        ("input", -1),
        ("loop", 0),
        ("loop", 1),
        ("loop", 2),
    ]
    assert [c["next"] for c in checkpoints] == [["__start__"], ["step_a"], ["step_b"], []]
    assert checkpoints[-1]["values"] == {"items": ["x", "a", "b"]}
    assert (
        checkpoints[1]["parent_config"]["configurable"]["checkpoint_id"]
        == (checkpoints[0]["config"]["configurable"]["checkpoint_id"])
    )
    assert set(checkpoints[1]["tasks"][0]) == {"id", "name", "interrupts", "state"}

    parts = await stream(client, "agent", {"items": ["x"]}, stream_mode="debug")
    debug = [p.data for p in parts[1:]]
    assert [d["type"] for d in debug] == [
        "checkpoint",
        "checkpoint",
        "task",
        "task_result",
        "checkpoint",
        "task",
        "task_result",
        "checkpoint",
    ]
    assert all(set(d) == {"step", "timestamp", "type", "payload"} for d in debug)
    for entry in debug:
        payload = entry["payload"]
        if entry["type"] == "checkpoint":
            assert set(payload) == CHECKPOINT_KEYS | {"checkpoint", "parent_checkpoint"}
            assert (
                payload["checkpoint"]["checkpoint_id"] == payload["config"]["configurable"]["checkpoint_id"]
            )
        elif entry["type"] == "task":
            assert set(payload) == TASK_START_KEYS
        else:
            assert set(payload) == TASK_RESULT_KEYS
    last = debug[-1]["payload"]
    assert (
        last["parent_checkpoint"]["checkpoint_id"] == last["parent_config"]["configurable"]["checkpoint_id"]
    )


async def test_events_mode(client: LangGraphClient) -> None:
    parts = await stream(client, "agent", {"items": ["x"]}, stream_mode="events")
    events = [p.data for p in parts[1:]]
    assert [e["event"] for e in events] == [
        "on_chain_start",
        "on_chain_start",
        "on_chain_stream",
        "on_chain_end",
        "on_chain_start",
        "on_chain_stream",
        "on_chain_end",
        "on_chain_end",
    ]
    assert [e["name"] for e in events[1:7]] == ["step_a"] * 3 + ["step_b"] * 3
    assert all(
        {"event", "name", "run_id", "data", "metadata", "tags", "parent_ids"} <= set(e) for e in events
    )
    assert events[-1]["data"]["output"] == {"items": ["x", "a", "b"]}


async def test_messages_tuple_is_sent_as_messages(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    human: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    parts = [
        p async for p in client.runs.stream(thread_id, "echo", input=human, stream_mode="messages-tuple")
    ]
    run_id = check_metadata_first(parts)
    assert [p.event for p in parts] == ["metadata", "messages"]
    message, metadata = parts[1].data
    assert set(message) == MESSAGE_KEYS
    assert (message["type"], message["content"]) == ("ai", "echo: hi")
    assert metadata["run_id"] == run_id
    assert metadata["thread_id"] == thread_id
    assert metadata["graph_id"] == "echo"
    assert metadata["langgraph_node"] == "echo"
    assert metadata["langgraph_triggers"] == ["branch:to:echo"]
    assert metadata["langgraph_path"] == ["__pregel_pull", "echo"]

    parts = [
        p
        async for p in client.runs.stream(
            await new_thread(client), "echo", input=human, stream_mode=["messages-tuple", "values"]
        )
    ]
    assert [p.event for p in parts] == ["metadata", "values", "messages", "values"]
    assert parts[-1].data["messages"][-1]["id"] == parts[2].data[0]["id"]


async def test_legacy_messages_mode(client: LangGraphClient) -> None:
    human = {"messages": [{"role": "user", "content": "hi"}]}
    parts = await stream(client, "echo", human, stream_mode="messages")
    check_metadata_first(parts)
    # The node returns a whole AIMessage (no LLM, no chunks): the official server sends the metadata
    # once, then `messages/complete`, and no `messages/partial` (http/echo_messages_modes.txt).
    assert [p.event for p in parts] == ["metadata", "messages/metadata", "messages/complete"]
    (message,) = parts[2].data
    assert set(message) == MESSAGE_KEYS
    assert (message["type"], message["content"]) == ("ai", "echo: hi")
    assert list(parts[1].data) == [message["id"]]
    assert parts[1].data[message["id"]]["metadata"]["langgraph_node"] == "echo"


async def test_subgraph_events_are_namespaced(client: LangGraphClient) -> None:
    parts = await stream(
        client, "nested", {"items": ["n"]}, stream_mode=["updates", "custom"], stream_subgraphs=True
    )
    check_metadata_first(parts)
    names = [p.event for p in parts]
    match = re.fullmatch(r"custom\|child:([0-9a-f-]{36})", names[1])
    assert match, names
    child = f"child:{match.group(1)}"
    assert names == ["metadata", f"custom|{child}", f"updates|{child}", f"updates|{child}", "updates"]
    assert [p.data for p in parts[1:]] == [
        {"progress": "a-start"},
        {"step_a": {"items": ["a"]}},
        {"step_b": {"items": ["b"]}},
        {"child": {"items": ["n", "a", "b"]}},
    ]

    parts = await stream(client, "nested", {"items": ["n"]}, stream_mode="updates")
    assert [(p.event, p.data) for p in parts[1:]] == [("updates", {"child": {"items": ["n", "a", "b"]}})]


async def test_stream_response_headers(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs/stream",
            json={"assistant_id": "agent", "input": {"items": ["h"]}, "stream_mode": "updates"},
        )
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert headers["x-accel-buffering"] == "no"
    assert headers["connection"] == "keep-alive"
    run_id = run_id_of(response)
    assert headers["location"] == f"/threads/{thread_id}/runs/{run_id}/stream"
    assert headers["content-location"] == f"/threads/{thread_id}/runs/{run_id}"
    events, _ = parse_body(response.content)
    assert events[0].data == {"run_id": run_id, "attempt": 1}
    # the headers name the run that really ran
    assert (await client.runs.get(thread_id, run_id))["status"] == "success"


async def test_sdk_on_run_created_reads_content_location(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    created: list[Any] = []
    parts = [
        p
        async for p in client.runs.stream(
            thread_id, "agent", input={"items": []}, on_run_created=lambda m: created.append(dict(m))
        )
    ]
    assert created == [{"run_id": parts[0].data["run_id"], "thread_id": thread_id}]


def sse(event: str, data: Any, id: str | None = None) -> bytes:
    frame = b"event: " + event.encode() + b"\r\ndata: " + orjson.dumps(data) + b"\r\n"
    if id is not None:
        frame += b"id: " + id.encode() + b"\r\n"
    return frame + b"\r\n"


async def test_sse_bytes_heartbeat_and_wait_keepalive(client: LangGraphClient, stack: Stack) -> None:
    """A run that takes longer than the 5 s heartbeat, streamed and waited on at the same time; a
    quick resumable run for the `id:` lines. Every byte is compared."""
    slow_thread, wait_thread, resumable_thread = [await new_thread(client) for _ in range(3)]
    slow_input = {"items": ["s"], "delay": 3}

    async with raw_client(stack.url) as http:

        async def slow_stream() -> Any:
            return await http.post(
                f"/threads/{slow_thread}/runs/stream",
                json={"assistant_id": "agent", "input": slow_input, "stream_mode": "updates"},
            )

        async def slow_wait() -> Any:
            return await http.post(
                f"/threads/{wait_thread}/runs/wait", json={"assistant_id": "agent", "input": slow_input}
            )

        streamed, waited = await asyncio.gather(slow_stream(), slow_wait())
        resumable = await http.post(
            f"/threads/{resumable_thread}/runs/stream",
            json={
                "assistant_id": "agent",
                "input": {"items": ["r"]},
                "stream_mode": ["values", "updates"],
                "stream_resumable": True,
            },
        )

    # Non-resumable: `event`, `data`, blank line; heartbeats are whole comment frames in between.
    run_id = run_id_of(streamed)
    body = streamed.content
    assert body.count(HEARTBEAT) >= 1
    assert body.replace(HEARTBEAT, b"") == (
        sse("metadata", {"run_id": run_id, "attempt": 1})
        + sse("updates", {"step_a": {"items": ["a"]}})
        + sse("updates", {"step_b": {"items": ["b"]}})
    )
    assert body.startswith(b"event: metadata\r\n")  # the first heartbeat comes after 5 s, not before
    events, heartbeats = parse_body(body)
    assert (len(events), heartbeats) == (3, body.count(HEARTBEAT))

    # wait: newline keep-alives first, then the JSON
    assert waited.status_code == 200
    assert waited.content.startswith(b"\n")
    assert waited.content.lstrip(b"\n") == orjson.dumps({"items": ["s", "a", "b"], "delay": 3})

    # Resumable: every event carries an `id:` line after `data:`, ids are Redis stream ids, increasing.
    events, heartbeats = parse_body(resumable.content)
    assert heartbeats == 0
    assert [e.event for e in events] == ["metadata", "values", "updates", "values", "updates", "values"]
    ids = [e.id_key() for e in events]
    assert ids == sorted(set(ids))
    run_id = run_id_of(resumable)
    values = [{"items": ["r"]}, {"items": ["r", "a"]}, {"items": ["r", "a", "b"]}]
    expected = [
        ("metadata", {"run_id": run_id, "attempt": 1}),
        ("values", values[0]),
        ("updates", {"step_a": {"items": ["a"]}}),
        ("values", values[1]),
        ("updates", {"step_b": {"items": ["b"]}}),
        ("values", values[2]),
    ]
    assert resumable.content == b"".join(
        sse(name, data, event.id) for (name, data), event in zip(expected, events, strict=True)
    )
