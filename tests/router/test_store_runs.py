"""router.store.runs' two one-statement writes (`langopen_create_run`, `langopen_finish_run`, migrations
0006 and 0007) against a freshly migrated Postgres: what each result writes, and that a refusal writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts.ids import uuid7
from contracts.runtime import DEFAULT_DEPLOYMENT_ID
from router.store import assistants as assistants_store
from router.store import runs as store
from router.store.pool import Pool, open_pool

ASSISTANT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "agent"))
THREAD_META = {"graph_id": "agent", "assistant_id": ASSISTANT_ID}


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Pool]:
    async with open_pool(pg_dsn, min_size=1, max_size=4, command_timeout=10) as pool:
        yield pool


async def _create(pool: Pool, thread_id: str, **overrides: Any) -> store.Record:
    args: dict[str, Any] = {
        "run_id": str(uuid7()),
        "thread_id": thread_id,
        "assistant_id": ASSISTANT_ID,
        "graph_id": "agent",
        "create_thread": THREAD_META,
        "filters": None,
        "multitask_strategy": "enqueue",
        "metadata_head": {"from": "assistant", "shared": "assistant"},
        "metadata_tail": {"from_request": 1, **THREAD_META},
        "kwargs": {"input": {"n": 1}, "config": {"metadata": {"cfg": True, "shared": "config"}}},
        "config_metadata_tail": {"langgraph_host": "self-hosted"},
        "after_seconds": 0.0,
        "on_completion": "keep",
        "thread_metadata": THREAD_META,
        "claimed_by": None,
        "lease_seconds": 30.0,
    }
    return await store.create(pool, **(args | overrides))


async def _counts(pool: Pool, thread_id: str) -> tuple[int, int]:
    threads = await pool.fetchval("SELECT count(*) FROM threads WHERE thread_id = $1", thread_id)
    runs = await pool.fetchval("SELECT count(*) FROM runs WHERE thread_id = $1", thread_id)
    return threads, runs


async def test_creates_the_thread_and_a_claimed_run_with_merged_metadata(pool: Pool) -> None:
    thread_id = str(uuid7())
    row = await _create(pool, thread_id, claimed_by="dispatcher-1")
    assert row["result"] == "created"
    assert list(row["inflight"]) == []
    assert (row["status"], row["attempt"], row["lease_owner"]) == ("running", 1, "dispatcher-1")
    # head | thread metadata | tail, the later winning, as dict unpacking merges
    expected = {"from": "assistant", "shared": "assistant", "from_request": 1, **THREAD_META}
    assert row["metadata"] == expected
    config_metadata = row["kwargs"]["config"]["metadata"]
    assert config_metadata == {"cfg": True, **expected, "langgraph_host": "self-hosted"}
    thread = await pool.fetchrow("SELECT status, metadata FROM threads WHERE thread_id = $1", thread_id)
    assert thread is not None
    assert (thread["status"], thread["metadata"]) == ("busy", THREAD_META)


async def test_an_existing_threads_metadata_goes_between_head_and_tail(pool: Pool) -> None:
    thread_id = str(uuid7())
    await _create(pool, thread_id, create_thread={**THREAD_META, "owner": "alice", "shared": "thread"})
    row = await _create(pool, thread_id, create_thread=None)
    assert row["result"] == "created"
    assert row["status"] == "pending"  # the first run is still unfinished
    assert row["metadata"]["owner"] == "alice"
    assert row["metadata"]["shared"] == "thread"


async def test_a_missing_thread_is_not_found_unless_it_may_be_created(pool: Pool) -> None:
    thread_id = str(uuid7())
    row = await _create(pool, thread_id, create_thread=None)
    assert row["result"] == "not_found"
    assert await _counts(pool, thread_id) == (0, 0)


async def test_filters_that_exclude_a_new_thread_write_nothing(pool: Pool) -> None:
    thread_id = str(uuid7())
    row = await _create(pool, thread_id, filters=[{"owner": "bob"}])
    assert row["result"] == "not_found"
    assert await _counts(pool, thread_id) == (0, 0)
    created = await _create(
        pool, thread_id, create_thread={**THREAD_META, "owner": "bob"}, filters=[{"owner": "bob"}]
    )
    assert created["result"] == "created"


async def test_filters_that_exclude_an_existing_thread_write_no_run(pool: Pool) -> None:
    thread_id = str(uuid7())
    await _create(pool, thread_id, create_thread={**THREAD_META, "owner": "alice"})
    row = await _create(pool, thread_id, filters=[{"owner": "bob"}, {"team": "x"}])
    assert row["result"] == "not_found"
    assert await _counts(pool, thread_id) == (1, 1)


async def test_reject_on_a_busy_thread_writes_nothing(pool: Pool) -> None:
    thread_id = str(uuid7())
    first = await _create(pool, thread_id)
    row = await _create(pool, thread_id, multitask_strategy="reject", claimed_by="dispatcher-1")
    assert row["result"] == "busy"
    assert [str(i) for i in row["inflight"]] == [str(first["run_id"])]
    assert await _counts(pool, thread_id) == (1, 1)


@pytest.mark.parametrize("strategy", ["interrupt", "rollback"])
async def test_interrupt_and_rollback_flag_the_unfinished_runs(pool: Pool, strategy: str) -> None:
    thread_id = str(uuid7())
    first = await _create(pool, thread_id)
    second = await _create(pool, thread_id)
    row = await _create(pool, thread_id, multitask_strategy=strategy, claimed_by="dispatcher-1")
    assert row["result"] == "created"
    assert [str(i) for i in row["inflight"]] == [str(first["run_id"]), str(second["run_id"])]
    assert row["status"] == "pending"  # not claimed while others are unfinished
    flagged = await pool.fetch(
        "SELECT cancel_action FROM runs WHERE run_id = ANY($1::uuid[])", [first["run_id"], second["run_id"]]
    )
    assert [r["cancel_action"] for r in flagged] == [strategy, strategy]


async def _finish(pool: Pool, row: store.Record, attempt: int) -> store.Record | None:
    return await store.finish_and_settle(
        pool,
        str(row["thread_id"]),
        str(row["run_id"]),
        attempt,
        status="success",
        output={"n": 4},
        error=None,
        thread_status="idle",
        set_values=True,
        values={"n": 4},
        interrupts={},
        thread_error=None,
    )


async def test_finish_settles_the_thread_and_tells_of_queued_runs(pool: Pool) -> None:
    thread_id = str(uuid7())
    first = await _create(pool, thread_id, claimed_by="dispatcher-1")
    await _create(pool, thread_id)  # queued behind it
    assert await _finish(pool, first, attempt=2) is None  # not the current attempt: nothing written
    finished = await _finish(pool, first, attempt=1)
    assert finished is not None
    assert (finished["thread_found"], finished["thread_has_pending"]) == (True, True)
    assert (finished["status"], finished["output"], finished["lease_owner"]) == ("success", {"n": 4}, None)
    thread = await pool.fetchrow('SELECT status, "values" FROM threads WHERE thread_id = $1', thread_id)
    assert thread is not None
    assert (thread["status"], thread["values"]) == ("busy", {"n": 4})  # the queued run keeps it busy


async def test_finish_leaves_the_thread_idle_when_nothing_else_is_due(pool: Pool) -> None:
    thread_id = str(uuid7())
    only = await _create(pool, thread_id, claimed_by="dispatcher-1")
    finished = await _finish(pool, only, attempt=1)
    assert finished is not None
    assert finished["thread_has_pending"] is False
    assert await pool.fetchval("SELECT status FROM threads WHERE thread_id = $1", thread_id) == "idle"


async def test_finish_without_the_thread_writes_nothing(pool: Pool) -> None:
    thread_id = str(uuid7())
    row = await _create(pool, thread_id, claimed_by="dispatcher-1")
    # The run row survives its thread only in this test (the foreign key cascades otherwise).
    await pool.execute("ALTER TABLE runs DROP CONSTRAINT runs_thread_id_fkey")
    await pool.execute("DELETE FROM threads WHERE thread_id = $1", thread_id)
    finished = await _finish(pool, row, attempt=1)
    assert finished is not None
    assert finished["thread_found"] is False
    assert await pool.fetchval("SELECT status FROM runs WHERE run_id = $1", row["run_id"]) == "running"


async def _stamp(pool: Pool, assistant_id: str) -> tuple[int, Any]:
    row = await pool.fetchrow(
        "SELECT version, updated_at FROM assistants WHERE assistant_id = $1", assistant_id
    )
    assert row is not None
    return row["version"], row["updated_at"]


async def test_a_cached_assistant_is_checked_and_a_changed_one_writes_nothing(pool: Pool) -> None:
    """Migration 0007: the run is created only while the assistant is exactly the copy the router
    cached (version and updated_at); after an update, a set_latest or a delete it is refused."""
    assistant_id = str(uuid.uuid4())
    made = await assistants_store.insert(
        pool,
        assistant_id=assistant_id,
        graph_id="agent",
        config={},
        context={},
        metadata={},
        name="a",
        description=None,
    )
    assert made is not None
    first = await _stamp(pool, assistant_id)
    thread_id = str(uuid7())
    row = await _create(pool, thread_id, assistant_id=assistant_id, assistant_stamp=first)
    assert row["result"] == "created"

    await assistants_store.update(
        pool,
        assistant_id,
        graph_id=None,
        config={"tags": ["v2"]},
        context=None,
        metadata=None,
        name=None,
        description=None,
    )
    second = await _stamp(pool, assistant_id)
    assert second[0] == 2
    fresh = str(uuid7())
    for stale in (first, (second[0], first[1]), (first[0], second[1])):
        refused = await _create(pool, fresh, assistant_id=assistant_id, assistant_stamp=stale)
        assert refused["result"] == "stale_assistant"
        assert await _counts(pool, fresh) == (0, 0)  # checked before the thread is created
    # the wrong graph for the cached copy is refused too
    other_graph = await _create(
        pool, fresh, assistant_id=assistant_id, graph_id="other", assistant_stamp=second
    )
    assert other_graph["result"] == "stale_assistant"
    assert (await _create(pool, fresh, assistant_id=assistant_id, assistant_stamp=second))[
        "result"
    ] == "created"

    assert await assistants_store.set_latest(pool, assistant_id, 1) is not None  # same version 1 as `first`
    third = await _stamp(pool, assistant_id)
    assert third[0] == first[0]
    assert third[1] != first[1]
    stale_again = await _create(pool, str(uuid7()), assistant_id=assistant_id, assistant_stamp=first)
    assert stale_again["result"] == "stale_assistant"

    assert await assistants_store.delete(pool, assistant_id)
    gone = await _create(pool, str(uuid7()), assistant_id=assistant_id, assistant_stamp=third)
    assert gone["result"] == "stale_assistant"


async def test_the_function_of_migration_0006_still_creates_runs_unchecked(pool: Pool) -> None:
    """Replicas on the code before migration 0007 call the 17-parameter function during an upgrade."""
    thread_id, run_id = str(uuid7()), str(uuid7())
    row = await pool.fetchrow(
        "SELECT f.result FROM langopen_create_run($1, $2, $3, $4, 'agent', $5, NULL, 'enqueue', '{}', '{}',"
        " $6, '{}', 0, 'keep', $5, NULL, 30) AS f",
        run_id,
        thread_id,
        DEFAULT_DEPLOYMENT_ID,
        ASSISTANT_ID,
        THREAD_META,
        {"config": {}},
    )
    assert row is not None
    assert row["result"] == "created"
    assert await _counts(pool, thread_id) == (1, 1)
