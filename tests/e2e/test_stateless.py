"""Stateless runs (contract §2.2 on_completion, §3.1 headers; captures sdk-transcript.json
"stateless ...", http/stateless_stream.txt): each runs on a temporary thread that is deleted when the
run ends unless `on_completion=keep`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from langgraph_sdk import errors as sdk_errors
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import parse_body, raw_client, run_id_of, wait_for_status, wire
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


async def own_assistant(client: LangGraphClient, graph_id: str = "agent") -> str:
    """An assistant of this test only: its id in thread metadata finds the temporary threads."""
    assistant = await client.assistants.create(graph_id, name=f"stateless-{time.monotonic_ns()}")
    return str(assistant["assistant_id"])


async def threads_of(client: LangGraphClient, assistant_id: str) -> list[dict[str, Any]]:
    return [dict(t) for t in await client.threads.search(metadata={"assistant_id": assistant_id}, limit=100)]


async def wait_thread_gone(client: LangGraphClient, thread_id: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await client.threads.get(thread_id)
        except sdk_errors.NotFoundError:
            return
        assert time.monotonic() < deadline, f"temporary thread {thread_id} still there"
        await asyncio.sleep(0.05)


async def test_stateless_wait(client: LangGraphClient, stack: Stack) -> None:
    assert await client.runs.wait(None, "agent", input=wire({"items": ["sl"]})) == {"items": ["sl", "a", "b"]}

    async with raw_client(stack.url) as http:
        response = await http.post("/runs/wait", json={"assistant_id": "agent", "input": {"items": ["t"]}})
        assert response.status_code == 200
        assert response.json() == {"items": ["t", "a", "b"]}
        # Location names the temporary thread, which is gone once the answer is complete
        thread_id = response.headers["location"].split("/")[2]
        run_id = run_id_of(response)
        assert response.headers["location"] == f"/threads/{thread_id}/runs/{run_id}/join"
        assert response.headers["content-location"] == f"/threads/{thread_id}/runs/{run_id}"
        assert (await http.get(f"/threads/{thread_id}")).status_code == 404

        response = await http.post(
            "/runs/wait",
            json={"assistant_id": "agent", "input": {"items": ["k"]}, "on_completion": "keep"},
        )
        assert response.json() == {"items": ["k", "a", "b"]}
        kept = response.headers["location"].split("/")[2]
    thread = wire(await client.threads.get(kept))
    assert thread["status"] == "idle"
    assert thread["values"] == {"items": ["k", "a", "b"]}
    assert thread["metadata"]["graph_id"] == "agent"
    (run,) = await client.runs.list(kept)
    assert wire(run)["kwargs"]["temporary"] is True
    assert run["status"] == "success"


async def test_stateless_wait_of_failing_graph(client: LangGraphClient) -> None:
    out = await client.runs.wait(None, "failing", input=wire({"items": ["f"]}), raise_error=False)
    assert out == {"__error__": {"error": "ValueError", "message": "boom: f"}}


async def test_stateless_stream(client: LangGraphClient, stack: Stack) -> None:
    assistant_id = await own_assistant(client)
    async with raw_client(stack.url) as http:
        response = await http.post(
            "/runs/stream",
            json={"assistant_id": assistant_id, "input": {"items": ["s"]}, "stream_mode": "updates"},
        )
    assert response.status_code == 200
    run_id = run_id_of(response)
    assert response.headers["location"] == f"/runs/{run_id}/stream"
    assert response.headers["content-location"] == f"/runs/{run_id}"
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events, _ = parse_body(response.content)
    assert [(e.event, e.data) for e in events] == [
        ("metadata", {"run_id": run_id, "attempt": 1}),
        ("updates", {"step_a": {"items": ["a"]}}),
        ("updates", {"step_b": {"items": ["b"]}}),
    ]
    assert await threads_of(client, assistant_id) == []  # deleted with the end of the run

    # on_completion=keep, through the SDK
    parts = [
        p
        async for p in client.runs.stream(
            None, assistant_id, input=wire({"items": ["k"]}), stream_mode="values", on_completion="keep"
        )
    ]
    assert [p.event for p in parts] == ["metadata", "values", "values", "values"]
    (kept,) = await threads_of(client, assistant_id)
    assert kept["values"] == {"items": ["k", "a", "b"]}
    (run,) = await client.runs.list(kept["thread_id"])
    assert run["run_id"] == parts[0].data["run_id"]


async def test_stateless_background_run(client: LangGraphClient) -> None:
    run = wire(await client.runs.create(None, "agent", input=wire({"items": ["bg"], "delay": 0.2})))
    assert run["kwargs"]["temporary"] is True
    assert run["status"] in ("pending", "running")
    await wait_thread_gone(client, run["thread_id"])  # the run ended and its thread went with it

    kept = await client.runs.create(None, "agent", input=wire({"items": ["bk"]}), on_completion="keep")
    done = await wait_for_status(client, kept["thread_id"], kept["run_id"])
    assert done["status"] == "success"
    assert await client.runs.join(kept["thread_id"], kept["run_id"]) == {"items": ["bk", "a", "b"]}


async def test_batch(client: LangGraphClient) -> None:
    assistant_id = await own_assistant(client)
    runs = await client.runs.create_batch(
        [
            {"assistant_id": assistant_id, "input": {"items": [str(i)]}, "on_completion": "keep"}  # type: ignore[typeddict-item]  # SDK's RunCreate is total
            for i in range(3)
        ]
    )
    assert len(runs) == 3
    assert len({r["thread_id"] for r in runs}) == 3  # one temporary thread each
    for i, run in enumerate(runs):
        assert run["assistant_id"] == assistant_id
        assert wire(run)["kwargs"]["input"] == {"items": [str(i)]}
        assert (await wait_for_status(client, run["thread_id"], run["run_id"]))["status"] == "success"
        assert (await client.threads.get(run["thread_id"]))["values"] == {"items": [str(i), "a", "b"]}

    deleted = await client.runs.create_batch(
        [{"assistant_id": "agent", "input": {"items": ["d"]}}]  # type: ignore[typeddict-item]  # SDK's RunCreate is total
    )
    await wait_thread_gone(client, deleted[0]["thread_id"])


async def test_stateless_resume_needs_a_thread(client: LangGraphClient, stack: Stack) -> None:
    async with raw_client(stack.url) as http:
        for path in ("/runs", "/runs/wait", "/runs/stream"):
            response = await http.post(path, json={"assistant_id": "hitl", "command": {"resume": "yes"}})
            assert response.status_code == 400, path
            assert response.json() == {"detail": "You must provide a thread_id when resuming."}
        # the thread-only fields are refused on the stateless body
        response = await http.post("/runs", json={"assistant_id": "agent", "multitask_strategy": "reject"})
        assert response.status_code == 422
        assert "multitask_strategy" in response.json()["detail"]
    with pytest.raises(httpx.HTTPStatusError) as raised:
        await client.runs.wait(None, "hitl", command={"resume": "yes"})
    assert raised.value.response.status_code == 400


async def test_batch_items_in_camel_case_must_agree_with_snake_case(stack: Stack) -> None:
    """The JS SDK's createBatch sends `assistantId` next to `assistant_id` (tests/js covers the happy
    path); two spellings of one field that disagree are refused, naming both."""
    async with raw_client(stack.url) as http:
        response = await http.post(
            "/runs/batch", json=[{"assistant_id": "agent", "assistantId": "echo", "input": {"items": []}}]
        )
    assert response.status_code == 422
    assert "assistantId and assistant_id differ" in response.json()["detail"]
