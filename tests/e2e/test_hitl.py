"""Human in the loop: `interrupt()` in a node, resuming with `command.resume`, and static
interrupts (interrupt_before / interrupt_after). Shapes from sdk-transcript.json ("hitl ...") and
http/hitl_values_only.txt."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import new_thread, values_of, wire

pytestmark = pytest.mark.e2e

INTERRUPT_ID = re.compile(r"^[0-9a-f]{32}$")


def check_wait_interrupt(item: dict[str, Any], items: list[str]) -> str:
    """The official wait body lists interrupts as {value, id, response_schema: null}."""
    assert set(item) == {"value", "id", "response_schema"}
    assert item["value"] == {"question": "approve?", "items": items}
    assert item["response_schema"] is None
    assert INTERRUPT_ID.match(item["id"])
    return str(item["id"])


async def test_interrupt_then_resume(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    out = values_of(await client.runs.wait(thread_id, "hitl", input=wire({"items": ["q"]})))
    assert set(out) == {"items", "__interrupt__"}
    assert out["items"] == ["q"]
    (item,) = out["__interrupt__"]
    interrupt_id = check_wait_interrupt(item, ["q"])

    thread = wire(await client.threads.get(thread_id))
    assert thread["status"] == "interrupted"
    assert thread["error"] is None
    assert thread["values"] == {"items": ["q"]}
    ((task_id, pending),) = thread["interrupts"].items()
    assert pending == [{"id": interrupt_id, "value": {"question": "approve?", "items": ["q"]}}]
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["ask"]
    assert state["tasks"][0]["id"] == task_id
    assert state["tasks"][0]["interrupts"] == pending
    assert state["interrupts"] == pending
    # the run itself succeeded: it paused, it did not fail
    (run,) = await client.runs.list(thread_id)
    assert run["status"] == "success"
    # joining it again gives the same body
    assert await client.runs.join(thread_id, run["run_id"]) == out

    parts = [
        p
        async for p in client.runs.stream(
            thread_id, "hitl", command={"resume": "yes"}, stream_mode=["values", "updates"]
        )
    ]
    assert parts[0].event == "metadata"
    assert [(p.event, p.data) for p in parts[1:]] == [
        ("values", {"items": ["q"]}),
        ("updates", {"ask": {"items": ["answer:yes"]}}),
        ("values", {"items": ["q", "answer:yes"]}),
        ("updates", {"finish": {"items": ["done"]}}),
        ("values", {"items": ["q", "answer:yes", "done"]}),
    ]
    thread = wire(await client.threads.get(thread_id))
    assert thread["status"] == "idle"
    assert thread["interrupts"] == {}
    assert thread["values"] == {"items": ["q", "answer:yes", "done"]}


async def test_stream_that_hits_an_interrupt(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    parts = [
        p
        async for p in client.runs.stream(
            thread_id, "hitl", input={"items": []}, stream_mode=["values", "updates"]
        )
    ]
    assert [p.event for p in parts] == ["metadata", "values", "updates", "values"]
    assert parts[1].data == {"items": []}
    (from_updates,) = parts[2].data["__interrupt__"]
    assert set(parts[2].data) == {"__interrupt__"}
    check_wait_interrupt(from_updates, [])
    assert parts[3].data == {"items": [], "__interrupt__": [from_updates]}

    # values only (http/hitl_values_only.txt): the last values event carries the interrupt
    other = await new_thread(client)
    parts = [
        p async for p in client.runs.stream(other, "hitl", input=wire({"items": ["v"]}), stream_mode="values")
    ]
    assert [p.event for p in parts] == ["metadata", "values", "values"]
    assert parts[2].data["items"] == ["v"]
    check_wait_interrupt(parts[2].data["__interrupt__"][0], ["v"])


async def test_resume_value_reaches_the_node(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "hitl", input={"items": []})
    out = await client.runs.wait(thread_id, "hitl", command={"resume": {"approved": False}})
    assert out == {"items": ["answer:{'approved': False}", "done"]}
    # a new input after the interrupt was answered starts a new pass and interrupts again
    out = values_of(await client.runs.wait(thread_id, "hitl", input=wire({"items": ["again"]})))
    check_wait_interrupt(out["__interrupt__"][0], ["answer:{'approved': False}", "done", "again"])


@pytest.mark.parametrize(
    "static",
    [{"interrupt_before": ["step_b"]}, {"interrupt_after": ["step_a"]}],
    ids=["interrupt_before", "interrupt_after"],
)
async def test_static_interrupts_pause_and_continue(client: LangGraphClient, static: dict[str, Any]) -> None:
    thread_id = await new_thread(client)
    out = values_of(await client.runs.wait(thread_id, "agent", input=wire({"items": ["x"]}), **static))
    assert out["items"] == ["x", "a"]  # step_b has not run
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["step_b"]
    thread = wire(await client.threads.get(thread_id))
    assert thread["status"] == "interrupted"  # contract §2.2: also after interrupt_before/after
    assert (thread["error"], thread["interrupts"]) == (None, {})
    (run,) = await client.runs.list(thread_id)
    assert run["status"] == "success"
    assert wire(run)["kwargs"][next(iter(static))] == next(iter(static.values()))

    # no input: continue from where it paused
    assert await client.runs.wait(thread_id, "agent", input=None) == {"items": ["x", "a", "b"]}
    assert (await client.threads.get_state(thread_id))["next"] == []
    assert (await client.threads.get(thread_id))["status"] == "idle"
