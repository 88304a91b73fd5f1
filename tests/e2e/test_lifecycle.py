"""Lifecycles that span several requests: thread TTLs applied by the reaper, assistant deletion
interrupting its runs, and the thread config a run leaves behind."""

from __future__ import annotations

import asyncio
import time

import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError

from tests.e2e.helpers import new_thread, wait_for_status, wire


async def test_thread_ttl_delete_is_applied_without_any_request(client: LangGraphClient) -> None:
    # ttl is in minutes; 0.01 min = 0.6 s. The reaper (every 5 s) deletes the thread on its own.
    thread_id = await new_thread(client, ttl={"strategy": "delete", "ttl": 0.01})
    kept_id = await new_thread(client)
    deadline = time.monotonic() + 20
    while True:
        try:
            await client.threads.get(thread_id)
        except NotFoundError:
            break
        assert time.monotonic() < deadline, "thread with an expired TTL was never deleted"
        await asyncio.sleep(0.2)
    assert (await client.threads.get(kept_id))["thread_id"] == kept_id


async def test_deleting_an_assistant_interrupts_its_runs(client: LangGraphClient) -> None:
    assistant = await client.assistants.create("agent", name="doomed")
    thread_id = await new_thread(client)
    run = await client.runs.create(
        thread_id, assistant["assistant_id"], input=wire({"items": ["x"], "delay": 5})
    )
    await wait_for_status(client, thread_id, run["run_id"], statuses={"running"})
    await client.assistants.delete(assistant["assistant_id"])
    ended = await wait_for_status(client, thread_id, run["run_id"])
    assert ended["status"] == "interrupted"
    with pytest.raises(NotFoundError):
        await client.assistants.get(assistant["assistant_id"])


async def test_a_run_leaves_the_thread_config_with_configurable(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    assert wire(await client.threads.get(thread_id))["config"] == {}
    await client.runs.wait(thread_id, "agent", input=wire({"items": ["x"]}))
    assert wire(await client.threads.get(thread_id))["config"] == {"configurable": {}}
