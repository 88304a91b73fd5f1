"""Stream modes: event names, order and payload shapes compared with the official server's captures
(/work/shared/reference/captures: sse-sample.txt, sdk-transcript.json, http/*.txt)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import orjson

from contracts.queue import Keys
from contracts.runtime import RunRequest
from functions.execute import Executor
from tests.functions.conftest import MakeRequest, Subscribe

TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def run(executor: Executor, subscribe: Any, keys: Any, req: RunRequest) -> tuple[Any, Any]:
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    outcome = await executor.run(req)
    await channel.drain()
    return outcome, channel


async def test_values_updates_custom_tasks_match_the_capture(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["values", "updates", "custom", "tasks"])
    outcome, channel = await run(executor, subscribe, keys, req)

    # http/stream_values_updates_custom_tasks.txt, event for event.
    assert channel.events() == [
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
    ]
    assert channel.payloads("metadata") == [{"run_id": req.run_id, "attempt": 1}]
    assert channel.payloads("values") == [{"items": ["x"]}, {"items": ["x", "a"]}, {"items": ["x", "a", "b"]}]
    assert channel.payloads("updates") == [{"step_a": {"items": ["a"]}}, {"step_b": {"items": ["b"]}}]
    assert channel.payloads("custom") == [{"progress": "a-start"}]
    start, result = channel.payloads("tasks")[:2]
    assert set(start) == {"id", "name", "input", "triggers", "metadata"}
    assert start["name"] == "step_a"
    assert start["input"] == {"items": ["x"]}
    assert start["triggers"] == ["branch:to:step_a"]
    assert start["metadata"]["run_id"] == req.run_id
    assert start["metadata"]["run_attempt"] == 1
    assert start["metadata"]["graph_id"] == "agent"
    assert start["metadata"]["assistant_id"] == req.assistant_id
    assert result == {
        "id": start["id"],
        "name": "step_a",
        "error": None,
        "result": {"items": ["a"]},
        "interrupts": [],
    }
    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "a", "b"]}
    assert outcome.interrupts == {}
    assert outcome.error is None
    assert outcome.checkpoint_id is not None
    # Nothing is sent twice: the frames on the thread channel are the same ones.
    assert all(f.id is None for f in channel.frames)


async def test_checkpoints_payloads_carry_the_run_config(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, thread_id: str
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["checkpoints"])
    outcome, channel = await run(executor, subscribe, keys, req)

    checkpoints = channel.payloads("checkpoints")
    assert channel.events() == ["metadata"] + ["checkpoints"] * 4
    assert [c["metadata"]["source"] for c in checkpoints] == ["input", "loop", "loop", "loop"]
    assert [c["next"] for c in checkpoints] == [["__start__"], ["step_a"], ["step_b"], []]
    for checkpoint in checkpoints:
        assert set(checkpoint) == {"config", "parent_config", "values", "metadata", "next", "tasks"}
        configurable = checkpoint["config"]["configurable"]
        assert configurable["thread_id"] == thread_id
        assert configurable["run_id"] == req.run_id
        assert configurable["graph_id"] == "agent"
        assert configurable["assistant_id"] == req.assistant_id
        assert configurable["checkpoint_ns"] == ""
    assert checkpoints[0]["parent_config"] is None
    assert (
        checkpoints[1]["parent_config"]["configurable"]["checkpoint_id"]
        == (checkpoints[0]["config"]["configurable"]["checkpoint_id"])
    )
    assert checkpoints[1]["tasks"] == [
        {"id": checkpoints[1]["tasks"][0]["id"], "name": "step_a", "interrupts": [], "state": None}
    ]
    assert outcome.checkpoint_id == checkpoints[-1]["config"]["configurable"]["checkpoint_id"]


async def test_debug_adds_checkpoint_and_parent_checkpoint(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, thread_id: str
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["debug"])
    _, channel = await run(executor, subscribe, keys, req)

    debug = channel.payloads("debug")
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
    first, second = debug[0]["payload"], debug[1]["payload"]
    assert first["checkpoint"] == {
        "checkpoint_id": first["config"]["configurable"]["checkpoint_id"],
        "thread_id": thread_id,
        "checkpoint_ns": "",
    }
    assert first["parent_checkpoint"] is None
    assert second["parent_checkpoint"] == first["checkpoint"]
    assert debug[3]["payload"]["result"] == {"items": ["a"]}


async def test_messages_tuple_is_named_messages(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, thread_id: str
) -> None:
    req = make_request(
        "echo", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode=["messages-tuple"]
    )
    outcome, channel = await run(executor, subscribe, keys, req)

    assert set(channel.events()) == {"metadata", "messages"}
    pairs = channel.payloads("messages")
    assert len(pairs) >= 3  # GenericFakeChatModel streams "echo:", " ", "hi"
    assert "".join(message["content"] for message, _ in pairs) == "echo: hi"
    message, metadata = pairs[0]
    assert message["type"] == "AIMessageChunk"
    assert {m["id"] for m, _ in pairs} == {message["id"]}
    assert metadata["langgraph_node"] == "echo"
    assert metadata["run_id"] == req.run_id
    assert metadata["thread_id"] == thread_id
    assert metadata["graph_id"] == "echo"
    assert outcome.values["messages"][-1]["content"] == "echo: hi"
    assert outcome.values["messages"][-1]["type"] == "ai"


async def test_legacy_messages_accumulate_partials(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(
        "echo", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode=["messages"]
    )
    _, channel = await run(executor, subscribe, keys, req)

    events = channel.events()
    assert events[:2] == ["metadata", "messages/metadata"]
    assert events.count("messages/metadata") == 1
    (meta,) = channel.payloads("messages/metadata")
    (message_id,) = meta
    assert meta[message_id]["metadata"]["langgraph_node"] == "echo"
    partials = channel.payloads("messages/partial")
    contents = [p[0]["content"] for p in partials]
    assert contents[-1] == "echo: hi"
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(contents))
    assert all(p[0]["id"] == message_id and p[0]["type"] == "ai" for p in partials)


async def test_whole_messages_match_the_capture(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, thread_id: str
) -> None:
    hi = {"messages": [{"role": "user", "content": "hi"}]}
    tuple_req = make_request("echo_plain", input=hi, stream_mode=["messages-tuple"])
    _, tuples = await run(executor, subscribe, keys, tuple_req)
    legacy_req = make_request("echo_plain", input=hi, stream_mode=["messages"])
    _, legacy = await run(executor, subscribe, keys, legacy_req)

    # http/echo_messages_modes.txt
    assert tuples.events() == ["metadata", "messages"]
    ((message, metadata),) = tuples.payloads("messages")
    assert set(message) == {
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
    assert (message["type"], message["content"]) == ("ai", "echo: hi")
    assert metadata["langgraph_node"] == "echo"
    assert metadata["thread_id"] == thread_id
    assert legacy.events() == ["metadata", "messages/metadata", "messages/complete"]
    ((message_id, meta),) = legacy.payloads("messages/metadata")[0].items()
    assert meta["metadata"]["langgraph_node"] == "echo"
    ((complete,),) = legacy.payloads("messages/complete")
    assert (complete["id"], complete["type"], complete["content"]) == (message_id, "ai", "echo: hi")


async def test_messages_tuple_with_values_keeps_both(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(
        "echo",
        input={"messages": [{"role": "user", "content": "hi"}]},
        stream_mode=["messages-tuple", "values"],
    )
    _, channel = await run(executor, subscribe, keys, req)

    events = channel.events()
    # http/echo_messages_modes.txt: values (input), messages..., values (with the reply)
    assert events[:2] == ["metadata", "values"]
    assert events[-1] == "values"
    assert set(events[2:-1]) == {"messages"}
    assert [m["type"] for m in channel.payloads("values")[-1]["messages"]] == ["human", "ai"]


async def test_events_mode_streams_astream_events(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["events", "values"])
    outcome, channel = await run(executor, subscribe, keys, req)

    events = channel.payloads("events")
    kinds = [e["event"] for e in events]
    # sdk-transcript.json "runs.stream['events']": the root graph's own on_chain_stream is not an event.
    assert kinds[0] == "on_chain_start"
    assert kinds[-1] == "on_chain_end"
    assert events[0]["name"] == "agent"  # an unnamed graph is named after its graph id
    assert not any(e["event"] == "on_chain_stream" and e["name"] == "agent" for e in events)
    assert {"on_chain_stream", "on_chain_end"} <= set(kinds)
    assert channel.payloads("values")[-1] == {"items": ["x", "a", "b"]}
    assert outcome.values == {"items": ["x", "a", "b"]}


async def test_subgraph_events_are_named_mode_pipe_namespace(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(
        "nested", input={"items": ["n"]}, stream_mode=["updates", "custom"], stream_subgraphs=True
    )
    outcome, channel = await run(executor, subscribe, keys, req)

    events = channel.events()
    # http/subgraphs_stream.txt
    assert events[0] == "metadata"
    assert events[-1] == "updates"
    namespaced = events[1:-1]
    assert [e.split("|")[0] for e in namespaced] == ["custom", "updates", "updates"]
    segments = {e.split("|", 1)[1] for e in namespaced}
    (segment,) = segments
    node, _, task_id = segment.partition(":")
    assert node == "child"
    assert TASK_ID.match(task_id)
    assert channel.payloads("updates") == [{"child": {"items": ["n", "a", "b"]}}]
    assert [orjson.loads(f.data) for f in channel.frames[1:-1]] == [
        {"progress": "a-start"},
        {"step_a": {"items": ["a"]}},
        {"step_b": {"items": ["b"]}},
    ]
    # The child's whole state is the parent's update, and `items` adds up: LangGraph semantics.
    assert outcome.values == {"items": ["n", "n", "a", "b"]}


async def test_events_mode_with_subgraphs(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(
        "nested", input={"items": ["n"]}, stream_mode=["events", "updates"], stream_subgraphs=True
    )
    _, channel = await run(executor, subscribe, keys, req)

    names = [e for e in channel.events() if e.startswith("updates")]
    assert names[-1] == "updates"
    assert [n.split("|")[0] for n in names[:-1]] == ["updates", "updates"]
    assert all(n.split("|")[1].startswith("child:") for n in names[:-1])
    assert "events" in channel.events()


async def test_without_stream_subgraphs_only_root_events(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request("nested", input={"items": ["n"]}, stream_mode=["updates"])
    _, channel = await run(executor, subscribe, keys, req)

    assert channel.events() == ["metadata", "updates"]


async def test_context_reaches_the_runtime(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request("ctx", input={"items": []}, context={"tag": "blue"}, stream_mode=["updates"])
    outcome, channel = await run(executor, subscribe, keys, req)

    assert channel.payloads("updates") == [{"tag_node": {"items": ["tag:blue"]}}]
    assert outcome.values == {"items": ["tag:blue"]}


async def test_factory_is_called_with_the_run_config(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request("made", input={"items": ["f"]}, stream_mode=["events"])
    outcome, channel = await run(executor, subscribe, keys, req)

    root: dict[str, Any] = channel.payloads("events")[0]
    assert root["name"] == f"made-for-{req.assistant_id}"
    assert outcome.values == {"items": ["f", "a", "b"]}
