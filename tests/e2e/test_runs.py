"""Thread runs through the official SDK (and raw HTTP where the SDK hides the wire): create + join,
wait, get/list/delete, scheduling, input vs command, config/context, checkpoints, durability,
metadata, failures and the 4xx bodies (contract §2, §3.4; captures sdk-transcript.json, http/*.txt)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk import errors as sdk_errors
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Checkpoint

from contracts.ids import system_assistant_id
from tests.e2e.helpers import (
    THREAD_OR_ASSISTANT_NOT_FOUND,
    new_thread,
    parse_body,
    raw_client,
    run_id_of,
    values_of,
    wait_for_status,
    wire,
)
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

AGENT = system_assistant_id("agent")
RUN_KEYS = {
    "run_id",
    "thread_id",
    "assistant_id",
    "metadata",
    "status",
    "kwargs",
    "multitask_strategy",
    "created_at",
    "updated_at",
    "langsmith_session_name",
}
# kwargs keys of the official runs.create answer (sdk-transcript.json "runs.create")
OFFICIAL_KWARGS_KEYS = {
    "input",
    "command",
    "config",
    "context",
    "stream_mode",
    "interrupt_before",
    "interrupt_after",
    "webhook",
    "feedback_keys",
    "temporary",
    "subgraphs",
    "resumable",
    "checkpoint_during",
    "durability",
}


async def test_create_then_join(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    run = wire(await client.runs.create(thread_id, "agent", input=wire({"items": ["x"]})))

    assert set(run) == RUN_KEYS
    assert run["thread_id"] == thread_id
    assert run["assistant_id"] == AGENT
    assert run["status"] in ("pending", "running")
    assert run["multitask_strategy"] == "enqueue"
    assert uuid.UUID(run["run_id"]).version == 7
    assert set(run["kwargs"]) >= OFFICIAL_KWARGS_KEYS
    kwargs = run["kwargs"]
    assert kwargs["input"] == {"items": ["x"]}
    assert kwargs["command"] is None
    assert kwargs["stream_mode"] == ["values"]
    assert kwargs["durability"] == "async"
    assert kwargs["checkpoint_during"] is True
    assert kwargs["temporary"] is False
    configurable = kwargs["config"]["configurable"]
    assert configurable["run_id"] == run["run_id"]
    assert configurable["thread_id"] == thread_id
    assert configurable["graph_id"] == "agent"
    assert configurable["assistant_id"] == AGENT

    assert await client.runs.join(thread_id, run["run_id"]) == {"items": ["x", "a", "b"]}
    done = await client.runs.get(thread_id, run["run_id"])
    assert done["status"] == "success"
    assert done["created_at"] == run["created_at"]
    assert done["updated_at"] >= run["updated_at"]
    # joining a finished run answers at once with the same output
    assert await client.runs.join(thread_id, run["run_id"]) == {"items": ["x", "a", "b"]}
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "idle"
    assert thread["values"] == {"items": ["x", "a", "b"]}


async def test_wait_returns_output_with_join_headers(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    assert await client.runs.wait(thread_id, "agent", input=wire({"items": ["w"]})) == {
        "items": ["w", "a", "b"]
    }

    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs/wait", json={"assistant_id": "agent", "input": {"items": ["v"]}}
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    run_id = run_id_of(response)
    assert response.headers["location"] == f"/threads/{thread_id}/runs/{run_id}/join"
    assert response.headers["content-location"] == f"/threads/{thread_id}/runs/{run_id}"
    assert response.json() == {"items": ["w", "a", "b", "v", "a", "b"]}
    assert (await client.runs.get(thread_id, run_id))["status"] == "success"


async def test_get_and_list_newest_first_with_paging_and_status(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    created = []
    for item in ("one", "two"):
        run = await client.runs.create(thread_id, "agent", input=wire({"items": [item]}))
        await client.runs.join(thread_id, run["run_id"])
        created.append(run["run_id"])
    failed = await client.runs.create(thread_id, "failing", input=wire({"items": ["three"]}))
    await client.runs.join(thread_id, failed["run_id"])
    created.append(failed["run_id"])

    listed = await client.runs.list(thread_id)
    assert [r["run_id"] for r in listed] == created[::-1]
    assert all(set(r) == RUN_KEYS for r in listed)
    assert [r["run_id"] for r in await client.runs.list(thread_id, limit=1)] == [created[2]]
    assert [r["run_id"] for r in await client.runs.list(thread_id, limit=2, offset=1)] == created[1::-1]
    assert await client.runs.list(thread_id, offset=3) == []
    assert [r["run_id"] for r in await client.runs.list(thread_id, status="error")] == [created[2]]
    assert [r["run_id"] for r in await client.runs.list(thread_id, status="success")] == created[1::-1]
    assert await client.runs.list(thread_id, status="pending") == []

    selected = [wire(r) for r in await client.runs.list(thread_id, select=["run_id", "status"])]
    assert selected == [
        {"run_id": created[2], "status": "error"},
        {"run_id": created[1], "status": "success"},
        {"run_id": created[0], "status": "success"},
    ]
    with pytest.raises(sdk_errors.UnprocessableEntityError):
        await client.runs.list(thread_id, select=["run_id", "secrets"])  # type: ignore[list-item]

    got = wire(await client.runs.get(thread_id, created[0]))
    assert got["run_id"] == created[0]
    assert got["status"] == "success"
    assert got["kwargs"]["input"] == {"items": ["one"]}

    with pytest.raises(sdk_errors.NotFoundError):
        await client.runs.get(thread_id, str(uuid.uuid4()))
    with pytest.raises(sdk_errors.NotFoundError):  # a run is only found under its own thread
        await client.runs.get(await new_thread(client), created[0])


async def test_list_runs_of_missing_thread_is_404(stack: Stack) -> None:
    missing = str(uuid.uuid4())
    async with raw_client(stack.url) as http:
        response = await http.get(f"/threads/{missing}/runs")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Thread with ID {missing} not found"}


async def test_delete_run(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    done = await client.runs.create(thread_id, "agent", input=wire({"items": ["x"]}))
    await client.runs.join(thread_id, done["run_id"])
    busy = await client.runs.create(thread_id, "agent", input=wire({"items": ["y"], "delay": 0.5}))

    async with raw_client(stack.url) as http:
        response = await http.delete(f"/threads/{thread_id}/runs/{busy['run_id']}")
        assert response.status_code == 409  # pending or running: cancel it first
        assert "detail" in response.json()

        response = await http.delete(f"/threads/{thread_id}/runs/{done['run_id']}")
        assert response.status_code == 204
        assert response.content == b""

        response = await http.delete(f"/threads/{thread_id}/runs/{done['run_id']}")
        assert response.status_code == 404
        response = await http.get(f"/threads/{thread_id}/runs/{done['run_id']}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}

    await client.runs.join(thread_id, busy["run_id"])
    await client.runs.delete(thread_id, busy["run_id"])  # the SDK's call, once it finished
    assert await client.runs.list(thread_id) == []
    # the thread and its state outlive its runs
    state = await client.threads.get_state(thread_id)
    assert values_of(state["values"])["items"] == ["x", "a", "b", "y", "a", "b"]


async def test_after_seconds_starts_later(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    started = time.monotonic()
    run = wire(
        await client.runs.create(thread_id, "agent", input=wire({"items": ["later"]}), after_seconds=2)
    )
    assert run["kwargs"]["config"]["configurable"]["__after_seconds__"] == 2
    assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "pending"

    assert await client.runs.join(thread_id, run["run_id"]) == {"items": ["later", "a", "b"]}
    assert time.monotonic() - started >= 2.0
    assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "success"


async def test_command_update_and_goto(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "agent", input=wire({"items": ["x"]}))

    # update, then jump straight to step_b: step_a does not run again
    out = await client.runs.wait(thread_id, "agent", command={"update": {"items": ["u"]}, "goto": "step_b"})
    assert out == {"items": ["x", "a", "b", "u", "b"]}
    # goto alone
    out = await client.runs.wait(thread_id, "agent", command={"goto": ["step_a"]})
    assert out == {"items": ["x", "a", "b", "u", "b", "a", "b"]}
    # update given as (channel, value) pairs
    out = await client.runs.wait(thread_id, "agent", command={"update": [("items", ["p"])], "goto": "step_b"})
    assert out == {"items": ["x", "a", "b", "u", "b", "a", "b", "p", "b"]}

    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "agent", "input": {"items": ["i"]}, "command": {"goto": "step_b"}},
        )
    assert response.status_code == 422
    assert "input" in response.json()["detail"]
    assert "command" in response.json()["detail"]


async def test_config_and_context_reach_the_graph(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    config_run: list[dict[str, Any]] = []
    out = values_of(
        await client.runs.wait(
            thread_id,
            "config_echo",
            input={},
            config={"configurable": {"user_setting": "s1"}, "tags": ["t1"]},
            metadata={"purpose": "config-test"},
            on_run_created=lambda meta: config_run.append(dict(meta)),
        )
    )
    run_id = str(config_run[0]["run_id"])
    assert out["seen"] == {
        "configurable": {
            "user_setting": "s1",
            "thread_id": thread_id,
            "run_id": run_id,
            "assistant_id": system_assistant_id("config_echo"),
            "graph_id": "config_echo",
        },
        "tags": ["t1"],
        "metadata": {"run_attempt": 1, "purpose": "config-test"},
        "context": {},
    }

    out = values_of(await client.runs.wait(thread_id, "config_echo", input={}, context={"model": "m1"}))
    assert out["seen"]["context"] == {"model": "m1"}
    assert out["seen"]["configurable"]["user_setting"] is None

    # an assistant's config and context are the defaults a run's own values override
    assistant = await client.assistants.create(
        "config_echo",
        config={"configurable": {"user_setting": "from-assistant"}},
        name="e2e-config",
    )
    out = values_of(await client.runs.wait(thread_id, assistant["assistant_id"], input={}))
    assert out["seen"]["configurable"]["user_setting"] == "from-assistant"
    assert out["seen"]["configurable"]["assistant_id"] == assistant["assistant_id"]
    out = values_of(
        await client.runs.wait(
            thread_id, assistant["assistant_id"], input={}, config={"configurable": {"user_setting": "mine"}}
        )
    )
    assert out["seen"]["configurable"]["user_setting"] == "mine"
    ctx_assistant = await client.assistants.create(
        "config_echo", context={"model": "m-default", "temperature": 0.5}, name="e2e-context"
    )
    out = values_of(
        await client.runs.wait(thread_id, ctx_assistant["assistant_id"], input={}, context={"model": "m2"})
    )
    assert out["seen"]["context"] == {"model": "m2", "temperature": 0.5}

    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "config_echo", "config": {"configurable": {"a": 1}}, "context": {"b": 1}},
        )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Cannot specify both configurable and context. Prefer setting context alone."
    }


async def test_run_from_an_earlier_checkpoint(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    await client.runs.wait(thread_id, "agent", input=wire({"items": ["one"]}))
    after_first = (await client.threads.get_state(thread_id))["checkpoint"]["checkpoint_id"]
    await client.runs.wait(thread_id, "agent", input=wire({"items": ["two"]}))

    out = await client.runs.wait(
        thread_id, "agent", input=wire({"items": ["three"]}), checkpoint_id=after_first
    )
    assert out == {"items": ["one", "a", "b", "three", "a", "b"]}
    # the same through `checkpoint`, given by its id alone (the SDK's `Checkpoint` type wants every field)
    by_id: Checkpoint = {"checkpoint_id": after_first}  # type: ignore[typeddict-item]  # SDK type too strict
    out = await client.runs.wait(thread_id, "agent", input=wire({"items": ["four"]}), checkpoint=by_id)
    assert out == {"items": ["one", "a", "b", "four", "a", "b"]}
    state = await client.threads.get_state(thread_id)
    assert state["values"] == {"items": ["one", "a", "b", "four", "a", "b"]}
    parent = state["parent_checkpoint"]
    assert parent is not None
    assert parent["checkpoint_id"] != after_first  # a new branch grew from it


async def test_durability_exit_saves_only_the_final_checkpoint(client: LangGraphClient, stack: Stack) -> None:
    sync_thread, exit_thread = await new_thread(client), await new_thread(client)
    await client.runs.wait(sync_thread, "agent", input=wire({"items": ["s"]}), durability="sync")
    await client.runs.wait(exit_thread, "agent", input=wire({"items": ["e"]}), durability="exit")

    sync_history = await client.threads.get_history(sync_thread, limit=20)
    exit_history = await client.threads.get_history(exit_thread, limit=20)
    assert len(sync_history) == 4  # input, after step_a, after step_b, plus the first empty checkpoint
    assert len(exit_history) == 1
    assert exit_history[0]["values"] == {"items": ["e", "a", "b"]}
    assert sync_history[0]["values"] == {"items": ["s", "a", "b"]}
    runs = [wire(r) for r in await client.runs.list(exit_thread)]
    assert runs[0]["kwargs"]["durability"] == "exit"
    assert runs[0]["kwargs"]["checkpoint_during"] is False

    # the deprecated checkpoint_during=false means exit (raw: the SDK warns about it)
    async with raw_client(stack.url) as http:
        old_style = await new_thread(client)
        response = await http.post(
            f"/threads/{old_style}/runs/wait",
            json={"assistant_id": "agent", "input": {"items": ["c"]}, "checkpoint_during": False},
        )
        assert response.json() == {"items": ["c", "a", "b"]}
    assert len(await client.threads.get_history(old_style, limit=20)) == 1
    assert wire((await client.runs.list(old_style))[0])["kwargs"]["durability"] == "exit"


async def test_metadata_is_merged_and_copied_to_the_thread(client: LangGraphClient) -> None:
    thread_id = await new_thread(client, metadata={"purpose": "e2e"})
    run = await client.runs.create(thread_id, "agent", input=wire({"items": ["m"]}), metadata={"owner": "me"})
    assert run["metadata"] == {
        "created_by": "system",
        "purpose": "e2e",
        "owner": "me",
        "graph_id": "agent",
        "assistant_id": AGENT,
    }
    await client.runs.join(thread_id, run["run_id"])
    thread = await client.threads.get(thread_id)
    assert thread["metadata"] == {"purpose": "e2e", "graph_id": "agent", "assistant_id": AGENT}


async def test_if_not_exists_create_makes_the_thread(client: LangGraphClient, stack: Stack) -> None:
    thread_id = str(uuid.uuid4())
    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs/wait",
            json={"assistant_id": "agent", "input": {"items": []}, "if_not_exists": "create"},
        )
    assert response.status_code == 200
    assert response.json() == {"items": ["a", "b"]}
    assert response.headers["location"].startswith(f"/threads/{thread_id}/runs/")
    thread = await client.threads.get(thread_id)
    assert thread["metadata"] == {"graph_id": "agent", "assistant_id": AGENT}
    assert thread["status"] == "idle"


async def test_failing_graph(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    expected_error = {"error": "ValueError", "message": "boom: x"}

    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs/wait", json={"assistant_id": "failing", "input": {"items": ["x"]}}
        )
    assert response.status_code == 200
    assert response.json() == {"__error__": expected_error}
    failed_run = run_id_of(response)
    assert (await client.runs.get(thread_id, failed_run))["status"] == "error"
    assert await client.runs.join(thread_id, failed_run) == {"__error__": expected_error}

    thread = wire(await client.threads.get(thread_id))
    assert thread["status"] == "error"
    assert thread["error"] == expected_error

    # the SDK raises on __error__ (unless raise_error=False), as it does against the official server
    other = await new_thread(client)
    with pytest.raises(Exception, match=r"^ValueError: boom: y$"):
        await client.runs.wait(other, "failing", input=wire({"items": ["y"]}))
    out = await client.runs.wait(other, "failing", input=wire({"items": ["z"]}), raise_error=False)
    assert out == {"__error__": {"error": "ValueError", "message": "boom: y,z"}}

    # a stream ends with an `error` event
    stream_thread = await new_thread(client)
    parts = [p async for p in client.runs.stream(stream_thread, "failing", input=wire({"items": ["s"]}))]
    assert parts[0].event == "metadata"
    assert parts[-1].event == "error"
    assert parts[-1].data == {"error": "ValueError", "message": "boom: s"}
    assert [p.event for p in parts[1:-1]] == ["values"]
    assert (await client.runs.get(stream_thread, parts[0].data["run_id"]))["status"] == "error"
    assert (await client.threads.get(stream_thread))["status"] == "error"


async def test_error_event_on_the_wire(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:
        response = await http.post(
            f"/threads/{thread_id}/runs/stream",
            json={"assistant_id": "failing", "input": {"items": ["w"]}, "stream_mode": "updates"},
        )
    events, _ = parse_body(response.content)
    assert [e.event for e in events] == ["metadata", "error"]
    assert events[-1].raw == b'event: error\r\ndata: {"error":"ValueError","message":"boom: w"}\r\n\r\n'
    run = await wait_for_status(client, thread_id, run_id_of(response))
    assert run["status"] == "error"
    assert (await client.threads.get(thread_id))["status"] == "error"


async def test_unprocessable_bodies_name_the_field(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    cases = {
        "bogus": {"assistant_id": "agent", "bogus": 1},
        "multitask_strategy": {"assistant_id": "agent", "multitask_strategy": "nope"},
        "stream_mode": {"assistant_id": "agent", "stream_mode": "tools"},
        "durability": {"assistant_id": "agent", "durability": "forever"},
        "if_not_exists": {"assistant_id": "agent", "if_not_exists": "maybe"},
        "on_disconnect": {"assistant_id": "agent", "on_disconnect": "explode"},
        "webhook": {"assistant_id": "agent", "webhook": "http://127.0.0.1/hook"},  # loopback: refused
        "feedback_keys": {"assistant_id": "agent", "feedback_keys": ["k"]},
        "after_seconds": {"assistant_id": "agent", "after_seconds": -1},
        "assistant_id": {"input": {}},
        "interrupt_before": {"assistant_id": "agent", "interrupt_before": "step_a"},
    }
    async with raw_client(stack.url) as http:
        for field, body in cases.items():
            for path in ("runs", "runs/wait", "runs/stream"):
                response = await http.post(f"/threads/{thread_id}/{path}", json=body)
                assert response.status_code == 422, (field, path, response.text)
                assert field in response.json()["detail"], (field, response.json())
        response = await http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "nope"})
        assert response.status_code == 422
        assert response.json()["detail"].startswith("Invalid assistant: 'nope'. Must be either:")
        response = await http.post("/threads/not-a-uuid/runs", json={"assistant_id": "agent"})
        assert response.status_code == 422
        assert response.json() == {"detail": "Invalid thread ID: must be a UUID"}
    # nothing was created by any refused request
    assert await client.runs.list(thread_id) == []
    with pytest.raises(sdk_errors.UnprocessableEntityError):
        await client.runs.create(thread_id, "agent", multitask_strategy="nope")  # type: ignore[call-overload]  # invalid on purpose


async def test_missing_thread_is_404(client: LangGraphClient, stack: Stack) -> None:
    missing = str(uuid.uuid4())
    async with raw_client(stack.url) as http:
        for path in ("runs", "runs/wait", "runs/stream"):
            response = await http.post(f"/threads/{missing}/{path}", json={"assistant_id": "agent"})
            assert response.status_code == 404, path
            assert response.json() == {"detail": THREAD_OR_ASSISTANT_NOT_FOUND}
        response = await http.post(
            f"/threads/{missing}/runs", json={"assistant_id": "agent", "if_not_exists": "reject"}
        )
        assert response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as raised:  # runs.wait raises the untyped error
        await client.runs.wait(missing, "agent", input={})
    assert raised.value.response.status_code == 404
    with pytest.raises(sdk_errors.NotFoundError):
        await client.threads.get(missing)  # and no thread was created
    # an assistant id that is a valid uuid but unknown
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:
        response = await http.post(f"/threads/{thread_id}/runs", json={"assistant_id": str(uuid.uuid4())})
    assert (response.status_code, response.json()) == (404, {"detail": THREAD_OR_ASSISTANT_NOT_FOUND})
