"""Double texting (contract §2.2 multitask_strategy): a second run on a busy thread is refused
(`reject`), queued (`enqueue`), or replaces the first (`interrupt` keeps its state, `rollback` deletes
it and its checkpoints) — also when the requests race each other."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from langgraph_sdk import errors as sdk_errors
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import (
    THREAD_BUSY,
    checkpoints_of_run,
    new_thread,
    raw_client,
    values_of,
    wait_for_checkpoint,
    wait_for_status,
    wire,
)
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

SLOW = {"delay": 1}  # each of the agent's two steps sleeps this long
FAST = {"delay": 0}


async def busy_thread(client: LangGraphClient) -> tuple[str, str]:
    """A thread whose first run is executing and has written its input checkpoint."""
    thread_id = await new_thread(client)
    first = await client.runs.create(thread_id, "agent", input=wire({"items": ["x"], **SLOW}))
    await wait_for_checkpoint(client, thread_id, first["run_id"])
    return thread_id, first["run_id"]


async def test_reject_on_a_busy_thread(client: LangGraphClient, stack: Stack) -> None:
    thread_id, first = await busy_thread(client)
    async with raw_client(stack.url) as http:
        for path in ("runs", "runs/wait", "runs/stream"):
            response = await http.post(
                f"/threads/{thread_id}/{path}",
                json={"assistant_id": "agent", "input": {"items": ["y"]}, "multitask_strategy": "reject"},
            )
            assert response.status_code == 409, path
            assert response.json() == {"detail": THREAD_BUSY}
    with pytest.raises(sdk_errors.ConflictError, match="Thread is already running a task"):
        await client.runs.create(
            thread_id, "agent", input=wire({"items": ["y"]}), multitask_strategy="reject"
        )

    assert await client.runs.join(thread_id, first) == {"items": ["x", "a", "b"], **SLOW}
    assert [r["run_id"] for r in await client.runs.list(thread_id)] == [first]
    # once idle, reject lets the next run through
    out = await client.runs.wait(
        thread_id, "agent", input=wire({"items": ["y"], **FAST}), multitask_strategy="reject"
    )
    assert out == {"items": ["x", "a", "b", "y", "a", "b"], **FAST}


async def test_enqueue_runs_after_the_first(client: LangGraphClient) -> None:
    thread_id, first = await busy_thread(client)
    second = await client.runs.create(thread_id, "agent", input=wire({"items": ["y"], **FAST}))
    assert second["multitask_strategy"] == "enqueue"  # the default
    assert (await client.runs.get(thread_id, second["run_id"]))["status"] == "pending"
    assert (await client.runs.get(thread_id, first))["status"] == "running"
    assert (await client.threads.get(thread_id))["status"] == "busy"

    out = await client.runs.join(thread_id, second["run_id"])
    assert out == {"items": ["x", "a", "b", "y", "a", "b"], **FAST}  # strictly one after the other
    runs = {r["run_id"]: r for r in await client.runs.list(thread_id)}
    assert runs[first]["status"] == runs[second["run_id"]]["status"] == "success"
    assert runs[second["run_id"]]["updated_at"] > runs[first]["updated_at"]
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_interrupt_stops_the_first_and_keeps_its_state(client: LangGraphClient) -> None:
    thread_id, first = await busy_thread(client)
    second = await client.runs.create(
        thread_id, "agent", input=wire({"items": ["y"], **FAST}), multitask_strategy="interrupt"
    )
    out = await client.runs.join(thread_id, second["run_id"])
    # the first run's input checkpoint stays: its "x" is in the state the second run built on
    assert out == {"items": ["x", "y", "a", "b"], **FAST}
    assert (await client.runs.get(thread_id, first))["status"] == "interrupted"
    assert (await client.runs.get(thread_id, second["run_id"]))["status"] == "success"
    assert await checkpoints_of_run(client, thread_id, first)
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_rollback_deletes_the_first_and_its_checkpoints(client: LangGraphClient) -> None:
    thread_id, first = await busy_thread(client)
    second = await client.runs.create(
        thread_id, "agent", input=wire({"items": ["y"], **FAST}), multitask_strategy="rollback"
    )
    out = await client.runs.join(thread_id, second["run_id"])
    assert out == {"items": ["y", "a", "b"], **FAST}  # nothing of the first run is left
    with pytest.raises(sdk_errors.NotFoundError):
        await client.runs.get(thread_id, first)
    assert await checkpoints_of_run(client, thread_id, first) == []
    assert [r["run_id"] for r in await client.runs.list(thread_id)] == [second["run_id"]]
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_concurrent_rejects_on_an_idle_thread_accept_exactly_one(
    client: LangGraphClient, stack: Stack
) -> None:
    thread_id = await new_thread(client)
    # the accepted run lasts 2 s, far longer than it takes to answer all ten requests
    body = {"assistant_id": "agent", "input": {"items": ["c"], "delay": 1}, "multitask_strategy": "reject"}
    async with raw_client(stack.url) as http:

        async def create() -> httpx.Response:
            return await http.post(f"/threads/{thread_id}/runs", json=body)

        responses = await asyncio.gather(*(create() for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 9
    accepted = next(r.json() for r in responses if r.status_code == 200)
    assert all(r.json() == {"detail": THREAD_BUSY} for r in responses if r.status_code == 409)
    assert await client.runs.join(thread_id, accepted["run_id"]) == {"items": ["c", "a", "b"], "delay": 1}
    assert [r["run_id"] for r in await client.runs.list(thread_id)] == [accepted["run_id"]]


async def test_concurrent_enqueues_run_one_at_a_time(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:

        async def create(item: str) -> dict[str, Any]:
            response = await http.post(
                f"/threads/{thread_id}/runs",
                json={"assistant_id": "agent", "input": {"items": [item]}, "multitask_strategy": "enqueue"},
            )
            assert response.status_code == 200
            return dict(response.json())

        runs = await asyncio.gather(*(create(str(i)) for i in range(5)))
    for run in runs:
        assert (await wait_for_status(client, thread_id, run["run_id"]))["status"] == "success"
    items = values_of((await client.threads.get_state(thread_id))["values"])["items"]
    # each run's input is followed by its own two steps: no two runs interleaved
    assert len(items) == 15
    assert [items[i + 1 : i + 3] for i in range(0, 15, 3)] == [["a", "b"]] * 5
    # and they ran in the order they were created
    created = sorted(runs, key=lambda r: r["created_at"])
    assert items[0::3] == [r["kwargs"]["input"]["items"][0] for r in created]


async def test_concurrent_hitl_resumes_with_reject_run_exactly_once(
    client: LangGraphClient, stack: Stack
) -> None:
    thread_id = await new_thread(client)
    # the resumed step sleeps 1 s: both resumes arrive while the accepted one is still running
    out = await client.runs.wait(thread_id, "hitl_slow", input=wire({"items": ["q"], "delay": 1}))
    assert "__interrupt__" in out
    body = {"assistant_id": "hitl_slow", "command": {"resume": "yes"}, "multitask_strategy": "reject"}
    async with raw_client(stack.url) as http:

        async def resume() -> httpx.Response:
            return await http.post(f"/threads/{thread_id}/runs", json=body)

        responses = await asyncio.gather(resume(), resume())
    assert sorted(r.status_code for r in responses) == [200, 409]
    accepted = next(r.json() for r in responses if r.status_code == 200)
    assert await client.runs.join(thread_id, accepted["run_id"]) == {
        "items": ["q", "answer:yes", "done"],
        "delay": 1,
    }
    assert len(await client.runs.list(thread_id)) == 2  # the first pass and one resume
    assert (await client.threads.get(thread_id))["status"] == "idle"
