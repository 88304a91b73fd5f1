"""How runs end: interrupts and resume, failures, interrupt_before/after, starting from a
checkpoint, durability — each checked on the stream and in the RunOutcome."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.queue import Keys
from contracts.runtime import RunRequest
from functions.execute import Executor, map_command
from tests.functions.conftest import MakeRequest, Subscribe


async def run(executor: Executor, subscribe: Any, keys: Any, req: RunRequest) -> tuple[Any, Any]:
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    outcome = await executor.run(req)
    await channel.drain()
    return outcome, channel


async def test_interrupt_then_resume_with_command(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    first = make_request("hitl", input={"items": ["v"]}, stream_mode=["values", "updates"])
    outcome, channel = await run(executor, subscribe, keys, first)

    # sdk-transcript.json "hitl runs.stream (hits interrupt)"
    assert channel.events() == ["metadata", "values", "updates", "values"]
    (update,) = channel.payloads("updates")
    (interrupt,) = update["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?", "items": ["v"]}
    assert interrupt["response_schema"] is None
    assert channel.payloads("values")[-1] == {"items": ["v"], "__interrupt__": [interrupt]}
    # The run ends `success`, as the official worker records it; the thread holds the interrupt.
    assert outcome.status == "success"
    assert outcome.values == {"items": ["v"]}
    ((task_id, pending),) = outcome.interrupts.items()
    assert pending == [{"value": interrupt["value"], "id": interrupt["id"]}]
    state = await executor.graphs.get_graph("hitl", {})
    snapshot = await state.aget_state({"configurable": {"thread_id": first.thread_id}})
    assert snapshot.next == ("ask",)
    assert snapshot.tasks[0].id == task_id

    resume = make_request("hitl", command={"resume": "yes"}, stream_mode=["values", "updates"])
    outcome, channel = await run(executor, subscribe, keys, resume)

    # sdk-transcript.json "hitl runs.stream(command resume)"
    assert channel.events() == ["metadata", "values", "updates", "values", "updates", "values"]
    assert channel.payloads("updates") == [
        {"ask": {"items": ["answer:yes"]}},
        {"finish": {"items": ["done"]}},
    ]
    assert outcome.status == "success"
    assert outcome.values == {"items": ["v", "answer:yes", "done"]}
    assert outcome.interrupts == {}


async def test_failure_publishes_error_event(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request("failing", input={"items": ["x"]}, stream_mode=["values"])
    outcome, channel = await run(executor, subscribe, keys, req)

    # http/stream_error.txt
    expected = {"error": "TypeError", "message": 'can only concatenate list (not "str") to list'}
    assert channel.events() == ["metadata", "values", "error"]
    assert channel.payloads("error") == [expected]
    assert outcome.status == "error"
    assert outcome.error is not None
    assert outcome.error.model_dump() == expected
    assert outcome.values == {"items": ["x"]}  # the last checkpoint before the failing step


async def test_failure_message_of_a_private_exception_type_is_hidden(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request("secret", input={"items": []}, stream_mode=["updates"])
    outcome, channel = await run(executor, subscribe, keys, req)

    assert channel.payloads("error") == [{"error": "VaultError", "message": "An internal error occurred"}]
    assert outcome.error is not None
    assert "hunter2" not in outcome.model_dump_json()


async def test_interrupt_before_pauses_and_input_none_continues(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    paused = make_request(input={"items": ["x"]}, interrupt_before=["step_b"], stream_mode=["updates"])
    outcome, channel = await run(executor, subscribe, keys, paused)

    assert channel.payloads("updates") == [{"step_a": {"items": ["a"]}}, {"__interrupt__": []}]
    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "a"]}
    assert outcome.interrupts == {}

    continued = make_request(input=None, stream_mode=["updates"])
    outcome, channel = await run(executor, subscribe, keys, continued)

    assert channel.payloads("updates") == [{"step_b": {"items": ["b"]}}]
    assert outcome.values == {"items": ["x", "a", "b"]}


async def test_interrupt_after_all_nodes(executor: Executor, make_request: MakeRequest) -> None:
    outcome = await executor.run(make_request(input={"items": ["x"]}, interrupt_after="*"))

    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "a"]}


async def test_run_from_an_earlier_checkpoint(executor: Executor, make_request: MakeRequest) -> None:
    first = await executor.run(make_request(input={"items": ["x"]}))
    await executor.run(make_request(input={"items": ["y"]}))
    forked = await executor.run(
        make_request(input={"items": ["z"]}, checkpoint={"checkpoint_id": first.checkpoint_id})
    )

    assert forked.values == {"items": ["x", "a", "b", "z", "a", "b"]}


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_every_durability_leaves_the_final_state_stored(
    executor: Executor, make_request: MakeRequest, thread_id: str, durability: str
) -> None:
    outcome = await executor.run(make_request(input={"items": ["x"]}, durability=durability))

    graph = await executor.graphs.get_graph("agent", {})
    snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    assert outcome.values == snapshot.values == {"items": ["x", "a", "b"]}
    assert outcome.checkpoint_id == snapshot.config["configurable"]["checkpoint_id"]


def test_map_command_builds_sends_and_update_tuples() -> None:
    command = map_command(
        {"update": [["items", ["u"]]], "goto": {"node": "step_b", "input": {"items": []}}, "resume": None}
    )

    assert command.update == [("items", ["u"])]
    assert isinstance(command.goto, list)
    (send,) = command.goto
    assert (send.node, send.arg) == ("step_b", {"items": []})
    assert map_command({"goto": "step_a"}).goto == ["step_a"]


async def test_command_goto_and_update(executor: Executor, make_request: MakeRequest) -> None:
    await executor.run(make_request(input={"items": ["x"]}))
    outcome = await executor.run(make_request(command={"update": {"items": ["u"]}, "goto": "step_b"}))

    assert outcome.values == {"items": ["x", "a", "b", "u", "b"]}
