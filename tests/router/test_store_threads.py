"""router.store.threads against a freshly migrated Postgres database, with checkpoints written by
LangGraph's own Postgres saver (the one the function runtime uses)."""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from contracts.ids import uuid7
from functions.checkpoints import Persistence, open_persistence
from router.store import threads as store
from router.store.pool import Pool, open_pool


class State(TypedDict, total=False):
    items: Annotated[list[str], operator.add]


def add(state: State) -> State:
    return {"items": ["a"]}


def ask(state: State) -> State:
    return {"items": [interrupt("ok?")]}


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Pool]:
    async with open_pool(pg_dsn, min_size=1, max_size=4, command_timeout=10) as pool:
        yield pool


@pytest.fixture
async def persistence(pg_dsn: str) -> AsyncIterator[Persistence]:
    async with open_persistence(pg_dsn, max_size=2) as db:
        yield db


def _graph(persistence: Persistence) -> Any:
    builder = StateGraph(State)
    builder.add_node("add", add)
    builder.add_node("ask", ask)
    builder.add_edge(START, "add")
    builder.add_edge("add", "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=persistence.checkpointer)


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def _thread_waiting_at_interrupt(
    pool: Pool, persistence: Persistence, **metadata: Any
) -> tuple[str, Any]:
    """A thread row plus real checkpoints: two runs, the second stopped at `interrupt()`."""
    thread_id = str(uuid7())
    assert await store.insert(pool, thread_id, metadata=metadata) is not None
    graph = _graph(persistence)
    await graph.ainvoke({"items": ["x"]}, _config(thread_id))
    await graph.ainvoke(Command(resume="first"), _config(thread_id))
    await graph.ainvoke({"items": ["y"]}, _config(thread_id))
    return thread_id, graph


async def _rows(pool: Pool, table: str, thread_id: str) -> int:
    count: int = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE thread_id = $1", thread_id)
    return count


async def test_insert_get_and_conflict(pool: Pool) -> None:
    thread_id = str(uuid7())
    created = await store.insert(pool, thread_id, metadata={"purpose": "t"})
    assert created is not None
    assert created == {
        "thread_id": thread_id,
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
        "state_updated_at": created["created_at"],
        "metadata": {"purpose": "t"},
        "status": "idle",
        "config": {},
        "values": None,
        "interrupts": {},
        "error": None,
    }
    assert await store.insert(pool, thread_id, metadata={}) is None
    assert await store.get(pool, thread_id) == created
    assert await store.get(pool, str(uuid.uuid4())) is None


async def test_ttl_is_kept_and_shown_only_when_asked(pool: Pool) -> None:
    thread_id = str(uuid7())
    await store.insert(pool, thread_id, metadata={}, ttl_strategy="delete", ttl_minutes=30)
    plain = await store.get(pool, thread_id)
    assert plain is not None
    assert "ttl" not in plain
    with_ttl = await store.get(pool, thread_id, include_ttl=True)
    assert with_ttl is not None
    ttl = with_ttl["ttl"]
    assert (ttl["strategy"], ttl["ttl_minutes"]) == ("delete", 30)
    expires = datetime.fromisoformat(ttl["expires_at"]) - datetime.fromisoformat(with_ttl["created_at"])
    assert timedelta(minutes=29, seconds=59) < expires < timedelta(minutes=30, seconds=1)

    patched = await store.patch(
        pool,
        thread_id,
        metadata={},
        set_ttl=True,
        ttl_strategy="keep_latest",
        ttl_minutes=None,
        include_ttl=True,
    )
    assert patched is not None
    assert patched["ttl"] == {"strategy": "keep_latest", "ttl_minutes": None, "expires_at": None}
    no_ttl = str(uuid7())
    await store.insert(pool, no_ttl, metadata={})
    shown = await store.get(pool, no_ttl, include_ttl=True)
    assert shown is not None
    assert "ttl" not in shown


async def test_patch_merges_metadata_and_keeps_ttl_unless_given(pool: Pool) -> None:
    thread_id = str(uuid7())
    await store.insert(pool, thread_id, metadata={"a": 1, "b": 1}, ttl_strategy="delete", ttl_minutes=5)
    patched = await store.patch(pool, thread_id, metadata={"b": 2, "c": 3}, include_ttl=True)
    assert patched is not None
    assert patched["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert patched["ttl"]["ttl_minutes"] == 5
    assert patched["updated_at"] > patched["created_at"]
    assert patched["state_updated_at"] == patched["created_at"]
    assert await store.patch(pool, str(uuid.uuid4()), metadata={}) is None


async def test_search_filters_sorts_and_pages(pool: Pool) -> None:
    made = []
    for i, (status, values) in enumerate(
        [("idle", {"k": 1}), ("busy", None), ("interrupted", {"k": 2, "x": [1]}), ("idle", None)]
    ):
        thread_id = str(uuid7())
        await store.insert(pool, thread_id, metadata={"i": i, "even": i % 2 == 0})
        await pool.execute(
            'UPDATE threads SET status = $2, "values" = $3 WHERE thread_id = $1', thread_id, status, values
        )
        made.append(thread_id)

    async def found(**kwargs: Any) -> list[str]:
        params: dict[str, Any] = {
            "ids": None,
            "metadata": None,
            "values": None,
            "status": None,
            "sort_by": "created_at",
            "sort_order": "asc",
            "limit": 10,
            "offset": 0,
        }
        params.update(kwargs)
        return [t["thread_id"] for t in await store.search(pool, **params)]

    assert await found() == made
    assert await found(sort_order="desc") == made[::-1]
    assert await found(ids=[made[1], made[3]]) == [made[1], made[3]]
    assert await found(metadata={"even": True}) == [made[0], made[2]]
    assert await found(values={"k": 2}) == [made[2]]
    assert await found(status="idle") == [made[0], made[3]]
    # ties go newest first
    assert await found(sort_by="status") == [made[1], made[3], made[0], made[2]]
    assert await found(limit=2, offset=1) == made[1:3]
    assert await store.count(pool, metadata={"even": True}, values=None, status=None) == 2
    assert await store.count(pool, metadata=None, values={"x": [1]}, status="interrupted") == 1
    with pytest.raises(ValueError, match="cannot sort"):
        await found(sort_by="metadata")


async def test_delete_many_removes_threads_runs_and_checkpoint_rows(
    pool: Pool, persistence: Persistence
) -> None:
    thread_id, _ = await _thread_waiting_at_interrupt(pool, persistence)
    other_id, _ = await _thread_waiting_at_interrupt(pool, persistence)
    await pool.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, graph_id) VALUES ($1, $2, $3, 'agent')",
        str(uuid7()),
        thread_id,
        str(uuid.uuid4()),
    )
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert await _rows(pool, table, thread_id) > 0
    deleted = await store.delete_many(pool, [thread_id, str(uuid.uuid4())])
    assert deleted == [thread_id]
    assert await store.get(pool, thread_id) is None
    assert await pool.fetchval("SELECT count(*) FROM runs WHERE thread_id = $1", thread_id) == 0
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert await _rows(pool, table, thread_id) == 0
        assert await _rows(pool, table, other_id) > 0
    assert await store.delete_many(pool, [thread_id]) == []


async def test_copy_duplicates_state_and_history_independently(pool: Pool, persistence: Persistence) -> None:
    source_id, graph = await _thread_waiting_at_interrupt(pool, persistence, purpose="copy")
    await pool.execute(
        """UPDATE threads SET status = 'interrupted', "values" = '{"items": ["x"]}', config = '{"configurable": {}}'
           WHERE thread_id = $1""",
        source_id,
    )
    new_id = str(uuid7())
    copied = await store.copy(pool, source_id, new_id)
    assert copied is not None
    assert copied["thread_id"] == new_id
    assert (copied["metadata"], copied["status"], copied["values"]) == (
        {"purpose": "copy"},
        "interrupted",
        {"items": ["x"]},
    )
    assert copied["created_at"] == copied["updated_at"] == copied["state_updated_at"]

    source_state = await graph.aget_state(_config(source_id))
    copy_state = await graph.aget_state(_config(new_id))
    assert copy_state.values == source_state.values == {"items": ["x", "a", "first", "y", "a"]}
    assert copy_state.next == ("ask",)
    assert copy_state.tasks[0].interrupts[0].value == "ok?"
    assert (
        copy_state.config["configurable"]["checkpoint_id"]
        == source_state.config["configurable"]["checkpoint_id"]
    )
    assert copy_state.metadata is not None
    source_history = [s async for s in graph.aget_state_history(_config(source_id))]
    copy_history = [s async for s in graph.aget_state_history(_config(new_id))]
    assert [s.values for s in copy_history] == [s.values for s in source_history]
    stamped = await pool.fetch(
        "SELECT DISTINCT metadata ->> 'thread_id' AS t FROM checkpoints WHERE thread_id = $1", new_id
    )
    assert {r["t"] for r in stamped} <= {new_id, None}

    await graph.ainvoke(Command(resume="on-copy"), _config(new_id))
    assert (await graph.aget_state(_config(new_id))).values["items"][-1] == "on-copy"
    assert (await graph.aget_state(_config(source_id))).values == source_state.values

    assert await store.copy(pool, str(uuid.uuid4()), str(uuid7())) is None


async def test_copy_of_a_busy_thread_is_idle(pool: Pool) -> None:
    source_id = str(uuid7())
    await store.insert(pool, source_id, metadata={})
    await pool.execute("UPDATE threads SET status = 'busy' WHERE thread_id = $1", source_id)
    copied = await store.copy(pool, source_id, str(uuid7()))
    assert copied is not None
    assert copied["status"] == "idle"


async def test_prune_keep_latest_leaves_a_resumable_latest_state(
    pool: Pool, persistence: Persistence
) -> None:
    thread_id, graph = await _thread_waiting_at_interrupt(pool, persistence)
    other_id, _ = await _thread_waiting_at_interrupt(pool, persistence)
    before = await graph.aget_state(_config(thread_id))
    other_rows = await _rows(pool, "checkpoints", other_id)
    assert await _rows(pool, "checkpoints", thread_id) > 1

    kept = await store.prune_keep_latest(pool, [thread_id, str(uuid.uuid4())])
    assert kept == [thread_id]
    assert await _rows(pool, "checkpoints", thread_id) == 1
    assert await _rows(pool, "checkpoints", other_id) == other_rows
    after = await graph.aget_state(_config(thread_id))
    assert after.values == before.values
    assert after.next == ("ask",)
    assert after.tasks[0].interrupts[0].value == "ok?"
    history = [s async for s in graph.aget_state_history(_config(thread_id))]
    assert [s.values for s in history] == [before.values]
    # the pending interrupt write survived, so the thread resumes where it stopped
    await graph.ainvoke(Command(resume="late"), _config(thread_id))
    assert (await graph.aget_state(_config(thread_id))).values["items"] == [
        "x",
        "a",
        "first",
        "y",
        "a",
        "late",
    ]


async def test_storage_counts_the_thread_rows(pool: Pool, persistence: Persistence) -> None:
    thread_id, _ = await _thread_waiting_at_interrupt(pool, persistence)
    report = await store.storage(pool, thread_id)
    assert report["checkpoints"]["count"] == await _rows(pool, "checkpoints", thread_id)
    assert report["pending_writes"]["count"] == await _rows(pool, "checkpoint_writes", thread_id)
    assert report["channel_values"]["count"] == await _rows(pool, "checkpoint_blobs", thread_id)
    assert "items" in report["channel_values"]["by_channel"]
    assert report["total_bytes"] == (
        report["checkpoints"]["bytes"] + report["channel_values"]["bytes"] + report["pending_writes"]["bytes"]
    )
    assert report["checkpoints"]["bytes"] > 0
    empty = await store.storage(pool, str(uuid.uuid4()))
    assert empty["total_bytes"] == 0
    assert empty["channel_values"]["by_channel"] == {}


async def test_ids_for_assistant_and_inflight_runs(pool: Pool) -> None:
    assistant_id = str(uuid.uuid4())
    mine = str(uuid7())
    await store.insert(pool, mine, metadata={"assistant_id": assistant_id, "graph_id": "agent"})
    await store.insert(pool, str(uuid7()), metadata={"assistant_id": str(uuid.uuid4())})
    assert await store.ids_for_assistant(pool, assistant_id) == [mine]
    assert await store.inflight_runs(pool, mine) == 0
    assert await store.latest_run(pool, mine) is None
    await pool.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, status) VALUES ($1, $2, $3, 'hitl', 'success')",
        str(uuid7()),
        mine,
        assistant_id,
    )
    await pool.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, graph_id) VALUES ($1, $2, $3, 'agent')",
        str(uuid7()),
        mine,
        assistant_id,
    )
    assert await store.inflight_runs(pool, mine) == 1
    assert await store.latest_run(pool, mine) == ("agent", assistant_id)
