"""CheckpointExecutor (docs/decisions/0003): the saver's serialisers run inline, everything else in a thread."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import inspect
import threading
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.postgres.base import BasePostgresSaver

from contracts.ids import uuid7
from contracts.runtime import DEFAULT_DEPLOYMENT_ID
from functions import checkpoints
from functions.checkpoints import (
    CheckpointExecutor,
    LendingSaver,
    PooledLock,
    install_executor,
    open_persistence,
)
from functions.execute import Executor
from tests.functions.conftest import MakeRequest


class ThreadSerde:
    """Serialises any value as the name of the thread that serialised it; fails on request."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, BaseException):
            raise obj
        return "thread", threading.current_thread().name.encode()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return data[1].decode()


def dump(saver: BasePostgresSaver, value: Any) -> Any:
    return saver._dump_writes("thread", "", "checkpoint", "task", "", [("channel", value)])


@pytest.fixture
async def saver() -> AsyncIterator[BasePostgresSaver]:
    loop = asyncio.get_running_loop()
    install_executor(loop, max_workers=2)
    yield BasePostgresSaver(serde=ThreadSerde())
    loop.set_default_executor(CheckpointExecutor(max_workers=1))


def thread_of(params: list[tuple[Any, ...]]) -> str:
    (row,) = params
    return bytes(row[-1]).decode()


async def test_serialisers_run_inline_on_the_loop_thread(saver: BasePostgresSaver) -> None:
    loop = asyncio.get_running_loop()
    # What asyncio.to_thread hands to the loop.
    call = functools.partial(contextvars.copy_context().run, dump, saver, 1)
    assert (
        thread_of(await loop.run_in_executor(None, call)) != threading.current_thread().name
    )  # not a saver method
    call = functools.partial(contextvars.copy_context().run, saver._dump_writes, "t", "", "c", "task", "", [])
    future = loop.run_in_executor(None, call)

    # Resolved before the loop ran anything: no thread hop, no wake-up through the self-pipe.
    assert isinstance(future, asyncio.Future)
    assert future.done()
    params = await asyncio.to_thread(saver._dump_writes, "thread", "", "checkpoint", "task", "", [("c", 1)])
    assert thread_of(params) == threading.current_thread().name


async def test_serialiser_errors_reach_the_awaiting_coroutine(saver: BasePostgresSaver) -> None:
    with pytest.raises(ValueError, match="cannot serialise"):
        await asyncio.to_thread(
            saver._dump_writes, "t", "", "c", "task", "", [("c", ValueError("cannot serialise"))]
        )
    # An asyncio future refuses StopIteration; the coroutine sees what a raising coroutine would.
    with pytest.raises(RuntimeError, match="StopIteration"):
        await asyncio.to_thread(saver._dump_writes, "t", "", "c", "task", "", [("c", StopIteration())])


async def test_other_calls_still_run_in_a_worker_thread(saver: BasePostgresSaver) -> None:
    assert await asyncio.to_thread(threading.current_thread) is not threading.current_thread()


def test_inline_call_outside_a_loop_gets_a_resolved_plain_future() -> None:
    saver = BasePostgresSaver(serde=ThreadSerde())
    executor = CheckpointExecutor(max_workers=1)
    try:
        # What asyncio.to_thread submits, but from synchronous code.
        call = functools.partial(
            contextvars.copy_context().run, saver._dump_writes, "t", "", "c", "task", "", []
        )
        future = executor.submit(call)
        assert future.done()
        assert future.result() == []
        assert thread_of(executor.submit(functools.partial(dump, saver), 1).result()) != "MainThread"
    finally:
        executor.shutdown()


async def test_pooled_saver_lock_never_waits(pg_dsn: str) -> None:
    async with open_persistence(pg_dsn, max_size=2) as db:
        for lock in (db.checkpointer.lock, db.run_checkpointer.lock):
            assert isinstance(lock, PooledLock)
            # A plain asyncio.Lock would deadlock here: every statement used to queue behind every other.
            async with lock, lock:
                assert not lock.locked()


async def test_only_the_run_checkpointer_commits_without_waiting_for_the_flush(pg_dsn: str) -> None:
    async with open_persistence(pg_dsn, max_size=2) as db:
        async with db.pool.connection() as conn:
            row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            assert row == {"synchronous_commit": "on"}  # state updates and the store
        async with db.run_pool.connection() as conn:
            row = await (await conn.execute("SHOW synchronous_commit")).fetchone()
            assert row == {"synchronous_commit": "off"}
        assert db.run_checkpointer.conn is db.run_pool
        assert db.checkpointer.conn is db.pool


async def test_concurrent_runs_each_keep_all_their_checkpoints(
    executor: Executor, make_request: MakeRequest
) -> None:
    requests = [make_request(thread_id=str(uuid7()), input={"items": [str(i)]}) for i in range(8)]
    outcomes = await asyncio.gather(*(executor.run(req) for req in requests))

    graph = await executor.graphs.get_graph("agent", {})
    for i, (req, outcome) in enumerate(zip(requests, outcomes, strict=True)):
        assert outcome.status == "success"
        state = await graph.aget_state({"configurable": {"thread_id": req.thread_id}})
        assert state.values == outcome.values
        assert state.config["configurable"]["checkpoint_id"] == outcome.checkpoint_id
        assert outcome.values["items"][0] == str(i)
        history = [s async for s in graph.aget_state_history({"configurable": {"thread_id": req.thread_id}})]
        assert [(s.metadata or {}).get("step") for s in history] == list(range(len(history) - 2, -2, -1))


async def test_setup_moves_items_from_before_tenancy_under_the_default_deployment(pg_dsn: str) -> None:
    """Items without a `deployment-<uuid>` first label (written before tenancy) become the default
    deployment's; scoped items stay; running setup again changes nothing."""
    label = f"deployment-{DEFAULT_DEPLOYMENT_ID}"
    other = "deployment-0f0e0d0c-0b0a-4908-8706-050403020100"
    await checkpoints.setup(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = [
            ("users.u1", "a"),
            ("deployment-notes.x", "b"),
            (f"{other}.users.u1", "c"),
            (f"{label}.kept", "d"),
        ]
        for prefix, key in rows:
            await conn.execute(
                "INSERT INTO store (prefix, key, value) VALUES ($1, $2, '{}'::jsonb)", prefix, key
            )
        for _ in range(2):
            await checkpoints.setup(pg_dsn)
            stored = await conn.fetch(
                "SELECT key, prefix FROM store WHERE key = ANY($1)", ["a", "b", "c", "d"]
            )
            found = {row["key"]: row["prefix"] for row in stored}
            assert found == {
                "a": f"{label}.users.u1",
                "b": f"{label}.deployment-notes.x",  # not a deployment label: a user's own namespace
                "c": f"{other}.users.u1",
                "d": f"{label}.kept",
            }
    finally:
        await conn.close()


async def test_run_checkpointer_lends_its_connections_between_statements(pg_dsn: str) -> None:
    """Without LendingSaver every statement checks a connection out of the pool (requests_num).
    (Its aget_tuple goes over asyncpg, run_writes.Reader: these statements are the ones that still
    go through psycopg, as `alist` and the fallbacks send them.)"""
    async with open_persistence(pg_dsn, max_size=2) as db:
        saver = db.run_checkpointer
        assert isinstance(saver, LendingSaver)

        async def statement() -> Any:
            async with saver._cursor() as cur:
                await cur.execute("SELECT 1 AS one")
                return await cur.fetchone()

        await statement()  # the first statement checks one out ...
        requests = db.run_pool.get_stats()["requests_num"]
        for _ in range(5):  # ... and every later one reuses it
            assert await statement() == {"one": 1}
        assert db.run_pool.get_stats()["requests_num"] == requests
        assert saver.idle_connections == 1
        await saver.release_idle()
        assert saver.idle_connections == 0
        assert db.run_pool.get_stats()["pool_available"] >= 1


async def test_lent_connection_goes_back_to_the_pool_after_a_failed_statement(pg_dsn: str) -> None:
    async with open_persistence(pg_dsn, max_size=2) as db:
        saver = db.run_checkpointer
        with pytest.raises(psycopg.errors.UndefinedTable):
            async with saver._cursor(pipeline=True) as cur:
                await cur.execute("SELECT * FROM no_such_table")
        assert saver.idle_connections == 0
        assert db.run_pool.get_stats()["pool_available"] >= 1
        async with saver._cursor() as cur:  # the pool's connection works: rolled back, not broken
            await cur.execute("SELECT 1 AS one")
            assert await cur.fetchone() == {"one": 1}
        assert saver.idle_connections == 1


async def test_lent_connections_go_back_when_the_pool_has_waiters(pg_dsn: str) -> None:
    async with open_persistence(pg_dsn, max_size=1) as db:
        saver = db.run_checkpointer
        async with saver._cursor() as cur:
            await cur.execute("SELECT 1")
            waiter = asyncio.create_task(db.run_pool.getconn())  # the pool's only connection is lent
            await asyncio.sleep(0.05)
            assert db.run_pool.get_stats()["requests_waiting"] == 1
        conn = await asyncio.wait_for(waiter, 5)  # handed over instead of parked on the idle stack
        assert saver.idle_connections == 0
        await db.run_pool.putconn(conn)


async def test_lent_connections_go_back_after_lend_seconds(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_persistence(pg_dsn, max_size=2) as db:
        saver = db.run_checkpointer
        async with saver._cursor() as cur:
            await cur.execute("SELECT 1")
        assert saver.idle_connections == 1
        monkeypatch.setattr(checkpoints, "LEND_SECONDS", 0.0)
        async with saver._cursor() as cur:  # out of the pool for longer than LEND_SECONDS now
            await cur.execute("SELECT 1")
        assert saver.idle_connections == 0


CURSOR_SOURCE_SHA256 = "217e0ac4b09b8778932a99010dabf9f3add7b103e06c39b23606d52523a25bc3"
"""AsyncPostgresSaver._cursor of langgraph-checkpoint-postgres 3.2.0, which LendingSaver._cursor mirrors."""


def test_lending_saver_mirrors_the_savers_cursor_of_the_locked_version() -> None:
    """LendingSaver overrides a private method: when an upgrade changes the original, this fails so
    that the override is compared with it again (then record the new digest here)."""
    source = inspect.getsource(AsyncPostgresSaver._cursor)
    assert hashlib.sha256(source.encode()).hexdigest() == CURSOR_SOURCE_SHA256
