"""Faults (DESIGN.md "A run, end to end", step 7): the function process dies mid-run (kill -9 from
inside the graph, once) and comes back as Knative would start a new pod; the router restarts.
Runs are retried from their last checkpoint up to LANGOPEN_MAX_ATTEMPTS, then end `error` with a
reason, and are never left `running`. Each test module stack has short leases so this is quick."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.helpers import new_thread, values_of, wait_for_status, wire
from tests.e2e.stack import APP_CONFIG, Stack

pytestmark = pytest.mark.e2e

FAST_LEASES = {"LANGOPEN_LEASE_SECONDS": "3", "LANGOPEN_REAPER_INTERVAL_SECONDS": "1"}


@dataclass
class SkewedStack(Stack):
    """A stack whose function service was built from another `langgraph.json` than the router's
    (a deployment whose versions drifted apart)."""

    function_config: Path | None = None

    def start_function(self) -> None:
        router_config = self.config
        self.config = self.function_config or router_config
        try:
            super().start_function()
        finally:
            self.config = router_config


def config_without(graph_id: str, folder: Path) -> Path:
    app = json.loads(APP_CONFIG.read_text())
    graphs = {
        gid: str(APP_CONFIG.parent / spec.removeprefix("./"))
        for gid, spec in app["graphs"].items()
        if gid != graph_id
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps({**app, "graphs": graphs, "dependencies": [str(APP_CONFIG.parent)]}))
    return path


def make_stack(
    tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str], *, function_lacks: str | None = None
) -> Iterator[Stack]:
    with migrated_database("t_e2e_faults") as dsn:
        workdir = tmp_path_factory.mktemp("faults")
        stack = SkewedStack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-e2e-faults:{uuid.uuid4().hex[:8]}",
            workdir=workdir,
            extra_env=extra_env,
            function_config=config_without(function_lacks, workdir) if function_lacks else None,
        )
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="module")
def retry_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from make_stack(tmp_path_factory, {**FAST_LEASES, "LANGOPEN_MAX_ATTEMPTS": "3"})


@pytest.fixture(scope="module")
def single_attempt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One attempt per run, and a function service that lacks the `echo` graph."""
    extra_env = {**FAST_LEASES, "LANGOPEN_MAX_ATTEMPTS": "1"}
    yield from make_stack(tmp_path_factory, extra_env, function_lacks="echo")


@pytest.fixture(scope="module")
def handoff_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Default (30 s) leases, no shutdown drain, and a short give-up time for an unreachable function."""
    extra_env = {"LANGOPEN_SHUTDOWN_DRAIN_SECONDS": "0", "LANGOPEN_FUNCTION_UNREACHABLE_GIVE_UP_SECONDS": "2"}
    yield from make_stack(tmp_path_factory, extra_env)


async def sdk(stack: Stack) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=stack.url, api_key=None)
    try:
        yield client
    finally:
        await client.http.client.aclose()


@pytest.fixture
async def retry_client(retry_stack: Stack) -> AsyncIterator[LangGraphClient]:
    async for client in sdk(retry_stack):
        yield client


@pytest.fixture
async def single_client(single_attempt_stack: Stack) -> AsyncIterator[LangGraphClient]:
    async for client in sdk(single_attempt_stack):
        yield client


@pytest.fixture
async def handoff_client(handoff_stack: Stack) -> AsyncIterator[LangGraphClient]:
    async for client in sdk(handoff_stack):
        yield client


async def function_died(stack: Stack) -> int:
    """Wait (without polling) for the function process to exit; its return code."""
    assert stack.function is not None
    return await asyncio.to_thread(stack.function.wait)


@pytest.mark.timeout(120)  # starts the module's stack, then a new function process
async def test_function_killed_mid_run_is_retried_on_attempt_2(
    retry_client: LangGraphClient, retry_stack: Stack, tmp_path: Path
) -> None:
    client, stack = retry_client, retry_stack
    thread_id = await new_thread(client)
    marker = tmp_path / "crashed"
    parts: list[Any] = []

    async def consume() -> None:
        async for part in client.runs.stream(
            thread_id,
            "agent",
            # step_b sleeps before it kills its process, so step_a's frames are out by then
            input=wire({"items": ["c"], "crash_once": str(marker), "delay": 0.3}),
            stream_mode="updates",
            durability="sync",  # step_a's checkpoint is saved before step_b starts (and crashes)
        ):
            parts.append(part)

    streaming = asyncio.create_task(consume())
    assert await function_died(stack) == -9  # step_b killed its own process
    assert marker.exists()
    await asyncio.to_thread(stack.start_function)  # a new pod
    await asyncio.wait_for(streaming, timeout=45)

    run_id = parts[0].data["run_id"]
    assert [(p.event, p.data) for p in parts] == [
        ("metadata", {"run_id": run_id, "attempt": 1}),
        ("updates", {"step_a": {"items": ["a"]}}),
        # attempt 2 continues from the checkpoint step_a wrote: step_a is not run again
        ("metadata", {"run_id": run_id, "attempt": 2}),
        ("updates", {"step_b": {"items": ["b"]}}),
    ]
    run = await client.runs.get(thread_id, run_id)
    assert run["status"] == "success"
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "idle"
    # the input was applied once
    assert thread["values"] == {"items": ["c", "a", "b"], "crash_once": str(marker), "delay": 0.3}
    # and the stack works as before
    assert await client.runs.wait(thread_id, "agent", input=wire({"items": ["d"]})) == {
        "items": ["c", "a", "b", "d", "a", "b"],
        "crash_once": str(marker),
        "delay": 0.3,
    }


async def test_router_restart_keeps_everything(retry_client: LangGraphClient, retry_stack: Stack) -> None:
    client, stack = retry_client, retry_stack
    thread_id = await new_thread(client, metadata={"kept": True})
    first = await client.runs.create(thread_id, "agent", input=wire({"items": ["before"]}))
    await client.runs.join(thread_id, first["run_id"])
    # a run in flight while the router goes away: it finishes while the router drains
    inflight = await client.runs.create(thread_id, "agent", input=wire({"items": ["during"], "delay": 1}))
    await wait_for_status(client, thread_id, inflight["run_id"], {"running"})
    state_before = await client.threads.get_state(thread_id)

    await client.http.client.aclose()
    await asyncio.to_thread(stack.restart_router)
    client = get_client(url=stack.url, api_key=None)
    try:
        run = await wait_for_status(client, thread_id, inflight["run_id"], within=40)
        assert run["status"] == "success"
        assert await client.runs.join(thread_id, inflight["run_id"]) == {
            "items": ["before", "a", "b", "during", "a", "b"],
            "delay": 1,
        }
        thread = wire(await client.threads.get(thread_id))
        assert thread["metadata"]["kept"] is True
        assert thread["status"] == "idle"
        assert [r["run_id"] for r in await client.runs.list(thread_id)] == [
            inflight["run_id"],
            first["run_id"],
        ]
        assert (await client.runs.get(thread_id, first["run_id"]))["status"] == "success"
        history = await client.threads.get_history(thread_id, limit=50)
        assert state_before["checkpoint"]["checkpoint_id"] in {
            h["checkpoint"]["checkpoint_id"] for h in history
        }
        # new runs work
        out = values_of(await client.runs.wait(thread_id, "agent", input=wire({"items": ["after"]})))
        assert out["items"][-3:] == ["after", "a", "b"]
    finally:
        await client.http.client.aclose()


async def test_single_attempt_ends_error_with_reason(
    single_client: LangGraphClient, single_attempt_stack: Stack, tmp_path: Path
) -> None:
    client, stack = single_client, single_attempt_stack
    thread_id = await new_thread(client)
    marker = tmp_path / "crashed"
    run = await client.runs.create(
        thread_id, "agent", input=wire({"items": ["c"], "crash_once": str(marker)})
    )
    assert await function_died(stack) == -9
    try:
        done = await wait_for_status(client, thread_id, run["run_id"], within=30)
        assert done["status"] == "error"
        output = await client.runs.join(thread_id, run["run_id"])
        error = output["__error__"]
        assert error["error"] == "RunAttemptsExhausted"
        assert "attempt 1 of 1" in error["message"]
        thread = wire(await client.threads.get(thread_id))
        assert thread["status"] == "error"
        assert thread["error"] == error
    finally:
        await asyncio.to_thread(stack.start_function)
    # the thread takes new runs once the function is back
    out = values_of(await client.runs.wait(thread_id, "agent", input=wire({"items": ["again"]})))
    assert out["items"][-3:] == ["again", "a", "b"]


async def test_run_the_function_refuses_ends_error_at_once(single_client: LangGraphClient) -> None:
    """The router knows `echo`, its function service does not: the run fails with the function's
    reason right away, instead of sitting `running` until leases run out."""
    client = single_client
    thread_id = await new_thread(client)
    started = time.monotonic()
    out = values_of(await client.runs.wait(thread_id, "echo", input={"messages": []}, raise_error=False))
    assert time.monotonic() - started < float(FAST_LEASES["LANGOPEN_LEASE_SECONDS"])
    error = out["__error__"]
    assert error["error"] == "RunAttemptsExhausted"
    assert "refused" in error["message"]
    assert "echo" in error["message"]
    (run,) = await client.runs.list(thread_id)
    assert run["status"] == "error"
    assert (await client.threads.get(thread_id))["status"] == "error"


async def test_router_shutdown_hands_back_runs_in_flight(
    handoff_client: LangGraphClient, handoff_stack: Stack
) -> None:
    """Without a drain, a stopping router hands its runs back at once: the next router finishes them
    on attempt 2 long before their 30 s lease would have expired."""
    client, stack = handoff_client, handoff_stack
    thread_id = await new_thread(client)
    run = await client.runs.create(thread_id, "agent", input=wire({"items": ["x"], "delay": 2}))
    await wait_for_status(client, thread_id, run["run_id"], {"running"})
    await client.http.client.aclose()
    started = time.monotonic()
    await asyncio.to_thread(stack.restart_router)
    client = get_client(url=stack.url, api_key=None)
    try:
        done = await wait_for_status(client, thread_id, run["run_id"], within=20)
        assert time.monotonic() - started < 20  # the lease (30 s) did not have to run out
        assert done["status"] == "success"
        assert "handed back" in stack.logs()
        out = await client.runs.join(thread_id, run["run_id"])
        assert out == {"items": ["x", "a", "b"], "delay": 2}  # the input was applied once
    finally:
        await client.http.client.aclose()


async def test_unreachable_function_ends_the_run_error_after_the_give_up_time(
    handoff_client: LangGraphClient, handoff_stack: Stack
) -> None:
    client, stack = handoff_client, handoff_stack
    thread_id = await new_thread(client)
    stack.kill_function()
    try:
        started = time.monotonic()
        out = values_of(
            await client.runs.wait(thread_id, "agent", input=wire({"items": ["x"]}), raise_error=False)
        )
        assert time.monotonic() - started >= 2
        error = out["__error__"]
        assert error["error"] == "RunAttemptsExhausted"
        assert "function service unreachable for 2 s" in error["message"]
        assert (await client.threads.get(thread_id))["status"] == "error"
    finally:
        await asyncio.to_thread(stack.start_function)
    out = values_of(await client.runs.wait(thread_id, "agent", input=wire({"items": ["again"]})))
    assert out["items"][-3:] == ["again", "a", "b"]
