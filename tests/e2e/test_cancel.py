"""Cancellation (contract §2.2, §3.4; captures http/cancel_nowait.txt, cancel_wait_rollback.txt,
run_after_cancel.txt, run_after_rollback.txt): interrupt and rollback, with and without waiting,
bulk cancel, pending runs, and clients that disconnect."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from langgraph_sdk import errors as sdk_errors
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import (
    NO_RUNS_TO_CANCEL,
    EventReader,
    checkpoints_of_run,
    new_thread,
    raw_client,
    run_id_of,
    values_of,
    wait_for_checkpoint,
    wait_for_status,
    wire,
)
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

SLOW = {"delay": 1}
USER_INTERRUPT = {
    "error": "UserInterrupt",
    "message": "interrupt requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
}


async def running_run(client: LangGraphClient, thread_id: str, item: str = "c") -> str:
    run = await client.runs.create(thread_id, "agent", input=wire({"items": [item], **SLOW}))
    await wait_for_checkpoint(client, thread_id, run["run_id"])
    return str(run["run_id"])


async def test_cancel_without_wait_interrupts(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    run_id = await running_run(client, thread_id)
    async with raw_client(stack.url) as http:
        response = await http.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
    assert response.status_code == 202
    assert response.content == b""

    assert (await wait_for_status(client, thread_id, run_id))["status"] == "interrupted"
    thread = wire(await client.threads.get(thread_id))
    assert thread["status"] == "interrupted"
    assert thread["error"] == USER_INTERRUPT
    # state is kept: the input checkpoint of the interrupted run is still the thread's
    assert values_of((await client.threads.get_state(thread_id))["values"])["items"] == ["c"]

    # the thread takes new runs, and a success clears the error
    out = await client.runs.wait(thread_id, "agent", input=wire({"items": ["d"], "delay": 0}))
    assert out == {"items": ["c", "d", "a", "b"], "delay": 0}
    thread = wire(await client.threads.get(thread_id))
    assert (thread["status"], thread["error"]) == ("idle", None)


async def test_cancel_with_wait(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    run_id = await running_run(client, thread_id)
    # the SDK types runs.cancel as returning None; it returns the response body
    assert await client.runs.cancel(thread_id, run_id, wait=True) == {}  # type: ignore[func-returns-value]
    # waiting means the run has ended by the time the answer comes
    assert (await client.runs.get(thread_id, run_id))["status"] == "interrupted"

    run_id = await running_run(client, thread_id, "e")
    async with raw_client(stack.url) as http:
        response = await http.post(f"/threads/{thread_id}/runs/{run_id}/cancel", params={"wait": 1})
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["location"] == f"/threads/{thread_id}/runs/{run_id}/join"
    assert response.headers["content-location"] == f"/threads/{thread_id}/runs/{run_id}"
    assert (await client.runs.get(thread_id, run_id))["status"] == "interrupted"


async def test_cancel_rollback_restores_the_thread(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    assert await client.runs.wait(thread_id, "agent", input=wire({"items": ["x"]})) == {
        "items": ["x", "a", "b"]
    }
    before = await client.threads.get_state(thread_id)
    run_id = await running_run(client, thread_id, "y")

    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs/{run_id}/cancel", params={"wait": 1, "action": "rollback"}
        )
        assert response.status_code == 200
        assert response.json() == {}
        response = await http.get(f"/threads/{thread_id}/runs/{run_id}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}

    assert await checkpoints_of_run(client, thread_id, run_id) == []
    state = await client.threads.get_state(thread_id)
    assert state["values"] == {"items": ["x", "a", "b"]}
    assert state["checkpoint"] == before["checkpoint"]
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "idle"
    assert thread["values"] == {"items": ["x", "a", "b"]}
    assert len(await client.runs.list(thread_id)) == 1
    assert await client.runs.wait(thread_id, "agent", input=wire({"items": ["z"]})) == {
        "items": ["x", "a", "b", "z", "a", "b"]
    }

    # the SDK's rollback without waiting: the run disappears once the function stopped
    run_id = await running_run(client, thread_id, "w")
    await client.runs.cancel(thread_id, run_id, action="rollback")
    deadline = time.monotonic() + 30
    while True:
        try:
            await client.runs.get(thread_id, run_id)
        except sdk_errors.NotFoundError:
            break
        assert time.monotonic() < deadline, "the rolled back run was not deleted"
        await asyncio.sleep(0.05)
    assert await checkpoints_of_run(client, thread_id, run_id) == []
    assert values_of((await client.threads.get_state(thread_id))["values"])["items"][-3:] == ["z", "a", "b"]


async def test_cancel_a_pending_run(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    first = await running_run(client, thread_id, "first")
    queued = await client.runs.create(thread_id, "agent", input=wire({"items": ["queued"]}))
    assert (await client.runs.get(thread_id, queued["run_id"]))["status"] == "pending"

    await client.runs.cancel(thread_id, queued["run_id"])
    # a run that never started ends at once
    assert (await client.runs.get(thread_id, queued["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(thread_id, first))["status"] == "running"
    assert await client.runs.join(thread_id, first) == {"items": ["first", "a", "b"], **SLOW}
    assert (await client.threads.get(thread_id))["status"] == "idle"
    assert values_of((await client.threads.get_state(thread_id))["values"])["items"] == ["first", "a", "b"]


async def test_cancelling_a_scheduled_run_lets_the_queue_move(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    scheduled = await client.runs.create(
        thread_id, "agent", input=wire({"items": ["later"]}), after_seconds=60
    )
    queued = await client.runs.create(thread_id, "agent", input=wire({"items": ["next"]}))
    await client.runs.cancel(thread_id, scheduled["run_id"])
    # the queued run was waiting behind the scheduled one only: it runs now, not in 60 s
    done = await wait_for_status(client, thread_id, queued["run_id"], within=10)
    assert done["status"] == "success"
    assert (await client.runs.get(thread_id, scheduled["run_id"]))["status"] == "interrupted"


async def test_bulk_cancel(client: LangGraphClient, stack: Stack) -> None:
    by_ids, by_thread, scheduled_thread, running_thread = [await new_thread(client) for _ in range(4)]
    r1 = await running_run(client, by_ids)
    r2 = await running_run(client, by_thread)

    await client.runs.cancel_many(run_ids=[r1])
    assert (await wait_for_status(client, by_ids, r1))["status"] == "interrupted"
    assert (await client.runs.get(by_thread, r2))["status"] == "running"
    await client.runs.cancel_many(thread_id=by_thread)
    assert (await wait_for_status(client, by_thread, r2))["status"] == "interrupted"

    scheduled = await client.runs.create(scheduled_thread, "agent", input={"items": []}, after_seconds=60)
    r4 = await running_run(client, running_thread)
    await client.runs.cancel_many(status="pending")
    assert (await client.runs.get(scheduled_thread, scheduled["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(running_thread, r4))["status"] == "running"
    await client.runs.cancel_many(status="all")
    assert (await wait_for_status(client, running_thread, r4))["status"] == "interrupted"

    async with raw_client(stack.url) as http:
        response = await http.post("/runs/cancel", json={"run_ids": [str(uuid.uuid4())]})
        assert response.status_code == 404
        assert response.json() == {"detail": NO_RUNS_TO_CANCEL}
        response = await http.post("/runs/cancel", json={"status": "all", "thread_id": by_ids})
        assert response.status_code == 422
        response = await http.post("/runs/cancel", json={"status": "finished"})
        assert response.status_code == 422
        assert "status" in response.json()["detail"]
        for field, value in (("run_ids", ["not-a-uuid"]), ("thread_id", "not-a-uuid")):
            response = await http.post("/runs/cancel", json={field: value})
            assert response.status_code == 422, field
            assert field in response.json()["detail"]
    with pytest.raises(sdk_errors.NotFoundError):
        await client.runs.cancel_many(thread_id=by_ids)  # nothing left to cancel there


async def test_cancel_missing_run_is_404(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    with pytest.raises(sdk_errors.NotFoundError):
        await client.runs.cancel(thread_id, str(uuid.uuid4()))


@pytest.mark.parametrize(("on_disconnect", "final"), [("cancel", "interrupted"), ("continue", "success")])
async def test_stream_on_disconnect(
    client: LangGraphClient, stack: Stack, on_disconnect: str, final: str
) -> None:
    thread_id = await new_thread(client)
    body = {
        "assistant_id": "agent",
        "input": {"items": ["d"], **SLOW},
        "stream_mode": "updates",
        "on_disconnect": on_disconnect,
    }
    async with (
        raw_client(stack.url) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as response,
    ):
        run_id = run_id_of(response)
        (metadata,) = await EventReader(response).take(1)
        assert metadata.event == "metadata"
    # the client has dropped the stream while the run executes
    run = await wait_for_status(client, thread_id, run_id)
    assert run["status"] == final


async def test_wait_on_disconnect_cancel(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    body = {"assistant_id": "agent", "input": {"items": ["w"], **SLOW}, "on_disconnect": "cancel"}
    async with (
        raw_client(stack.url) as http,
        http.stream("POST", f"/threads/{thread_id}/runs/wait", json=body) as response,
    ):
        run_id = run_id_of(response)
        await wait_for_checkpoint(client, thread_id, run_id)
    assert (await wait_for_status(client, thread_id, run_id))["status"] == "interrupted"


async def test_join_cancel_on_disconnect(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    run_id = await running_run(client, thread_id)
    async with (
        raw_client(stack.url) as http,
        http.stream(
            "GET", f"/threads/{thread_id}/runs/{run_id}/stream", params={"cancel_on_disconnect": "true"}
        ) as response,
    ):
        assert response.status_code == 200
        (update,) = await EventReader(response).take(1)  # the join is live
        assert update.event == "values"
    assert (await wait_for_status(client, thread_id, run_id))["status"] == "interrupted"
