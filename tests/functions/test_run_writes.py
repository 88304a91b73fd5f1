"""Runs' checkpoint writes over asyncpg (functions.run_writes, docs/decisions/0017): the rows are the
ones LangGraph's own saver writes, and what the translation does not know goes out through psycopg."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, empty_checkpoint
from langgraph.checkpoint.postgres import base as pg_base
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT
from psycopg.types.json import Jsonb
from redis.asyncio import Redis

from contracts.ids import uuid7
from functions import run_writes
from functions.cancel import ControlListener
from functions.checkpoints import RUN_SETTINGS, LendingSaver, open_persistence
from functions.execute import Executor
from functions.graphs import GraphRegistry
from tests.functions.conftest import MakeRequest

TABLES = {
    "checkpoints": "checkpoint_ns, checkpoint_id",
    "checkpoint_blobs": "checkpoint_ns, channel, version",
    "checkpoint_writes": "checkpoint_ns, checkpoint_id, task_id, idx",
}


def checkpoint(checkpoint_id: str, values: dict[str, Any], versions: ChannelVersions) -> Checkpoint:
    made = empty_checkpoint()
    made["id"] = checkpoint_id
    made["ts"] = "2026-11-22T00:00:00+00:00"
    made["channel_values"] = values
    made["channel_versions"] = dict(versions)
    return made


def meta(step: int, **extra: Any) -> CheckpointMetadata:
    return {"source": "loop", "step": step, "parents": {}, **extra}  # type: ignore[typeddict-item]


async def write_everything(
    saver: AsyncPostgresSaver, thread_id: str, versions: Callable[[int], Any], ids: tuple[str, str]
) -> None:
    """One of each kind of write a run makes, and the awkward cases: a checkpoint with blobs and one
    without, each written twice, regular writes (kept once), special writes (replaced),
    two special writes of one channel in one call (the last one stays), no writes at all."""
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}, "metadata": {"user": "ü"}}
    first, second = ids
    values = {"messages": [{"role": "user", "content": "hi\u2028"}], "n": 1, "s": "x", "none": None}
    new = {key: versions(1) for key in values}
    await saver.aput(config, checkpoint(first, values, new), meta(-1), new)
    config = await saver.aput(config, checkpoint(first, values, new), meta(-1, again=True), new)
    second_config = await saver.aput(
        config, checkpoint(second, {"n": 2}, {"n": versions(2)}), meta(0), {"n": versions(2)}
    )
    await saver.aput(
        config, checkpoint(second, {"n": 2}, {"n": versions(2)}), meta(0, again=True), {"n": versions(2)}
    )
    await saver.aput_writes(second_config, [("messages", ["b"]), ("n", 3)], "task-1", "~path")
    await saver.aput_writes(second_config, [("messages", ["c"]), ("n", 4)], "task-1", "~path")
    await saver.aput_writes(second_config, [(ERROR, "first"), (INTERRUPT, {"value": 1})], "task-2")
    await saver.aput_writes(second_config, [(ERROR, "second"), (INTERRUPT, {"value": 2})], "task-2")
    await saver.aput_writes(second_config, [(ERROR, "one"), (ERROR, "two")], "task-3")
    await saver.aput_writes(second_config, [], "task-4")


async def rows_of(conn: asyncpg.Connection, thread_id: str) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table, order in TABLES.items():
        rows = await conn.fetch(f"SELECT * FROM {table} WHERE thread_id = $1 ORDER BY {order}", thread_id)
        found[table] = [dict(row) for row in rows]
    return found


async def rewrite_with(conn: asyncpg.Connection, thread_id: str, write: Callable[[], Awaitable[None]]) -> Any:
    await write()
    written = await rows_of(conn, thread_id)
    for table in TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE thread_id = $1", thread_id)
    return written


@pytest.mark.parametrize(
    "versions",
    [
        pytest.param(lambda n: f"{n:032}.0.5", id="langgraph's string versions (asyncpg)"),
        pytest.param(lambda n: n, id="integer versions (asyncpg would refuse them for text: psycopg)"),
    ],
)
async def test_runs_write_the_rows_langgraphs_own_saver_writes(
    pg_dsn: str, versions: Callable[[int], Any]
) -> None:
    thread_id, ids = str(uuid7()), (str(uuid7()), str(uuid7()))
    async with open_persistence(pg_dsn, max_size=2) as db:
        conn = await asyncpg.connect(pg_dsn)
        try:
            stock = AsyncPostgresSaver(db.pool)
            assert isinstance(db.run_checkpointer, LendingSaver)
            langgraphs = await rewrite_with(
                conn, thread_id, lambda: write_everything(stock, thread_id, versions, ids)
            )
            ours = await rewrite_with(
                conn, thread_id, lambda: write_everything(db.run_checkpointer, thread_id, versions, ids)
            )
        finally:
            await conn.close()
        psycopg_checkouts = db.run_pool.get_stats().get("requests_num", 0)
    assert ours == langgraphs
    assert len(ours["checkpoints"]) == 2
    assert len(ours["checkpoint_blobs"]) == 1
    assert len(ours["checkpoint_writes"]) == 5
    if isinstance(versions(1), str):
        # Every call went over asyncpg but the one writing a row twice (task-3's two ERRORs).
        assert psycopg_checkouts == 1
    else:
        assert psycopg_checkouts > 0


async def test_a_run_that_does_not_wait_queues_its_writes_in_order(pg_dsn: str) -> None:
    """Inside a run's `Pending` (durability async/exit), aput and aput_writes return before anything
    is sent; `settle` writes the rows LangGraph's own saver writes call after call, in fewer
    statements (docs/decisions/0021)."""
    thread_id, ids = str(uuid7()), (str(uuid7()), str(uuid7()))
    versions: Callable[[int], Any] = lambda n: f"{n:032}.0.5"  # noqa: E731
    async with open_persistence(pg_dsn, max_size=2) as db:
        writes = db.run_checkpointer.writes
        assert writes is not None
        conn = await asyncpg.connect(pg_dsn)
        unsent: dict[str, list[Any]] = {}

        async def queued() -> None:
            pending = run_writes.Pending()
            token = run_writes.PENDING.set(pending)
            try:
                await first_checkpoint(db.run_checkpointer, thread_id, ids[0])
                unsent.update(await rows_of(conn, thread_id))
                await write_everything(db.run_checkpointer, thread_id, versions, ids)
            finally:
                run_writes.PENDING.reset(token)
            await pending.settle()

        try:
            stock = AsyncPostgresSaver(db.pool)

            async def stock_writes() -> None:
                await first_checkpoint(stock, thread_id, ids[0])
                await write_everything(stock, thread_id, versions, ids)

            langgraphs = await rewrite_with(conn, thread_id, stock_writes)
            before = writes.statements
            ours = await rewrite_with(conn, thread_id, queued)
        finally:
            await conn.close()
    assert all(rows == [] for rows in unsent.values())  # the first aput returned before its statement
    assert ours == langgraphs
    assert len(ours["checkpoint_writes"]) == 5
    # 11 calls over asyncpg (and task-3's, alone through psycopg, after the others were settled);
    # the rewrites of one checkpoint or task each start a new statement.
    assert writes.statements - before < 11


async def test_a_run_that_did_not_wait_reads_and_lists_what_it_queued(pg_dsn: str) -> None:
    thread_id, ids = str(uuid7()), (str(uuid7()), str(uuid7()))
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    async with open_persistence(pg_dsn, max_size=2) as db:
        token = run_writes.PENDING.set(run_writes.Pending())
        try:
            await first_checkpoint(db.run_checkpointer, thread_id, ids[0])
            found = await db.run_checkpointer.aget_tuple(config)
            await first_checkpoint(db.run_checkpointer, thread_id, ids[1])
            listed = [
                tup.config["configurable"]["checkpoint_id"] async for tup in db.run_checkpointer.alist(config)
            ]
        finally:
            run_writes.PENDING.reset(token)
    assert found is not None
    assert found.config["configurable"]["checkpoint_id"] == ids[0]
    assert listed == [ids[1], ids[0]]


async def test_a_write_that_fails_fails_the_run_that_did_not_wait(
    executor: Executor, make_request: MakeRequest, thread_id: str
) -> None:
    """A checkpoint write Postgres refuses (metadata LangGraph copies from the config, NaN, which is
    no JSON) still ends the run in `error`, reported once every write of the run has settled."""
    odd = {"metadata": {"odd": float("nan")}}
    outcome = await executor.run(make_request(input={"items": ["x"]}, config=odd))
    assert outcome.status == "error"
    assert outcome.error is not None
    graph = await executor.graphs.get_graph("agent", {})
    snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    assert snapshot.values == {}  # none of the run's checkpoints was written


async def test_writes_that_may_wait_linger_until_somebody_waits(pg_dsn: str) -> None:
    """With no statement in flight, a call queued with `may_wait` waits for the linger or for
    `hurry`; a call somebody waits for (`send`) goes at once."""
    saver = BasePostgresSaver()
    threads = [str(uuid7()) for _ in range(3)]
    async with run_writes.RunWrites.open(
        pg_dsn, max_size=2, settings=RUN_SETTINGS, linger_seconds=30.0
    ) as writes:
        first = writes.queue(saver, checkpoint_calls(saver, threads[0], STRING_VERSION), may_wait=True)
        second = writes.queue(saver, checkpoint_calls(saver, threads[1], STRING_VERSION), may_wait=True)
        assert first is not None
        assert second is not None
        await asyncio.sleep(0.2)
        assert writes.statements == 0
        assert not first.done()
        writes.hurry()
        assert await first
        assert await second
        assert writes.statements == 1  # both in one statement
        assert await asyncio.wait_for(
            writes.send(saver, checkpoint_calls(saver, threads[2], STRING_VERSION)), 5.0
        )
        assert writes.statements == 2
    async with run_writes.RunWrites.open(
        pg_dsn, max_size=2, settings=RUN_SETTINGS, linger_seconds=0.05
    ) as writes:
        late = writes.queue(saver, checkpoint_calls(saver, str(uuid7()), STRING_VERSION), may_wait=True)
        assert late is not None
        assert await asyncio.wait_for(late, 5.0)  # the linger ran out: sent without anybody waiting


async def test_a_short_run_writes_its_checkpoints_in_one_statement(
    pg_dsn: str, redis: Redis, graph_values: dict[str, Any], make_request: MakeRequest, thread_id: str
) -> None:
    """A run that ends within the linger: its calls (three checkpoints and their writes) share the
    statement its end sends; the state is the same as written call after call."""
    async with open_persistence(pg_dsn, max_size=4, write_linger_seconds=30.0) as db:
        control = ControlListener(redis)
        try:
            registry = GraphRegistry(graph_values, checkpointer=db.run_checkpointer, store=db.store)
            executor = Executor(graphs=registry, redis=redis, control=control)
            writes = db.run_checkpointer.writes
            assert writes is not None
            outcome = await executor.run(make_request(input={"items": ["x"]}))
            statements = writes.statements
            graph = await executor.graphs.get_graph("agent", {})
            snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
            history = [s async for s in graph.aget_state_history({"configurable": {"thread_id": thread_id}})]
        finally:
            await control.aclose()
    assert outcome.status == "success"
    assert outcome.values == snapshot.values == {"items": ["x", "a", "b"]}
    assert len(history) == 4  # input, after __start__, step_a and step_b
    assert statements == 1


def test_translation_leaves_unknown_statements_to_psycopg() -> None:
    saver = pg_base.BasePostgresSaver()
    row = ("t", "", "c", "task", "", 0, "ch", "json", b"1")
    known = run_writes.Call(saver.INSERT_CHECKPOINT_WRITES_SQL, [row], many=True)
    assert run_writes.translate(saver, [known]) is not None
    unknown = run_writes.Call("DELETE FROM checkpoints WHERE thread_id = %s", ("t",), many=False)
    assert run_writes.translate(saver, [unknown]) is None
    assert run_writes.translate(saver, [known, known]) is None
    twice = run_writes.Call(saver.UPSERT_CHECKPOINT_WRITES_SQL, [row, row], many=True)
    assert run_writes.translate(saver, [twice]) is None  # one row twice: row after row decides
    short = run_writes.Call(saver.INSERT_CHECKPOINT_WRITES_SQL, [row[:-1]], many=True)
    assert run_writes.translate(saver, [short]) is None
    # A value asyncpg would not encode for its column, which psycopg adapts: psycopg sends it.
    int_for_text = run_writes.Call(saver.INSERT_CHECKPOINT_WRITES_SQL, [(1, *row[1:])], many=True)
    assert run_writes.translate(saver, [int_for_text]) is None
    nulls = run_writes.Call(saver.INSERT_CHECKPOINT_WRITES_SQL, [(*row[:-1], None)], many=True)
    assert run_writes.translate(saver, [nulls]) is not None


async def test_a_saver_without_asyncpg_writes_through_psycopg(pg_dsn: str) -> None:
    async with open_persistence(pg_dsn, max_size=2) as db:
        saver = LendingSaver(db.run_pool)
        thread_id = str(uuid7())
        await write_everything(saver, thread_id, lambda n: f"{n:032}.0.5", (str(uuid7()), str(uuid7())))
        assert db.run_pool.get_stats().get("requests_num", 0) > 0
        state = await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
        await saver.release_idle()
    assert state is not None
    assert len(state.pending_writes or []) == 5


STRING_VERSION = "00000000000000000000000000000001.0.5"


async def first_checkpoint(
    saver: AsyncPostgresSaver, thread_id: str, checkpoint_id: str, **extra: Any
) -> Any:
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    versions: ChannelVersions = {"n": STRING_VERSION}
    return await saver.aput(
        config, checkpoint(checkpoint_id, {"n": [1]}, versions), meta(-1, **extra), versions
    )


async def test_calls_of_concurrent_runs_share_one_statement(pg_dsn: str) -> None:
    """Calls that arrive while nothing is in flight go out together: the rows are those the stock
    saver writes call after call; a call colliding with one already batched waits for the next
    statement, so the later checkpoint still wins."""
    threads = [str(uuid7()) for _ in range(6)]
    ids = {thread_id: str(uuid7()) for thread_id in threads}
    async with open_persistence(pg_dsn, max_size=2) as db:
        conn = await asyncpg.connect(pg_dsn)
        try:
            stock = AsyncPostgresSaver(db.pool)
            async with run_writes.RunWrites.open(pg_dsn, max_size=2, settings=RUN_SETTINGS) as writes:
                ours = LendingSaver(db.run_pool, writes=writes)

                async def everything(saver: AsyncPostgresSaver) -> None:
                    configs = await asyncio.gather(*(first_checkpoint(saver, t, ids[t]) for t in threads))
                    await asyncio.gather(
                        *(saver.aput_writes(c, [("n", 2), ("m", 3)], "task", "~p") for c in configs),
                        first_checkpoint(saver, threads[0], ids[threads[0]], again=1),
                        first_checkpoint(saver, threads[0], ids[threads[0]], again=2),
                    )

                written = {}
                for name, saver in (("stock", stock), ("ours", ours)):
                    await everything(saver)
                    written[name] = [await rows_of(conn, t) for t in threads]
                    for table in TABLES:
                        await conn.execute(f"DELETE FROM {table} WHERE thread_id = ANY($1)", threads)
        finally:
            await conn.close()
    assert written["ours"] == written["stock"]
    assert json.loads(written["ours"][0]["checkpoints"][0]["metadata"])["again"] == 2
    assert all(len(rows["checkpoint_writes"]) == 2 for rows in written["ours"])
    # 14 calls. How many share a statement depends on how many loop turns aput takes before it
    # sends (here 4 + 2 first checkpoints, then 7 calls, then 1), but the three writes of thread
    # 0's checkpoint can never share one.
    assert 3 <= writes.statements <= 6


def checkpoint_calls(saver: BasePostgresSaver, thread_id: str, version: Any) -> list[run_writes.Call]:
    """What aput records for a first checkpoint with one blob of `version`."""
    blob = (thread_id, "", "n", version, "json", b"[1]")
    row = (thread_id, "", str(uuid7()), None, Jsonb({"v": 1}), Jsonb({"step": -1}))
    return [
        run_writes.Call(saver.UPSERT_CHECKPOINT_BLOBS_SQL, [blob], many=True),
        run_writes.Call(saver.UPSERT_CHECKPOINTS_SQL, row, many=False),
    ]


async def test_a_call_failing_in_a_batch_fails_alone(pg_dsn: str) -> None:
    """A statement fails whole; its calls go again one by one: the good ones are written, the one
    Postgres refuses is left to psycopg (False), as when it was alone."""
    saver = BasePostgresSaver()
    good, odd = [str(uuid7()) for _ in range(3)], str(uuid7())
    async with run_writes.RunWrites.open(pg_dsn, max_size=2, settings=RUN_SETTINGS) as writes:
        sent = await asyncio.gather(
            *(writes.send(saver, checkpoint_calls(saver, t, STRING_VERSION)) for t in good),
            writes.send(saver, checkpoint_calls(saver, odd, "\x00")),  # no text holds a NUL
        )
    conn = await asyncpg.connect(pg_dsn)
    try:
        found = await conn.fetch("SELECT thread_id FROM checkpoints WHERE thread_id = ANY($1)", [*good, odd])
    finally:
        await conn.close()
    assert sent == [True, True, True, False]
    assert sorted(row["thread_id"] for row in found) == sorted(good)
    assert writes.statements == 1 + 4  # the batch, then each call alone


async def test_a_cancelled_call_returns_once_its_rows_are_settled(pg_dsn: str) -> None:
    """A run stopped while its checkpoint is queued or in flight: by the time the cancelled call
    has ended, the statement carrying it is done, so nothing of the run lands afterwards."""
    thread_id, checkpoint_id = str(uuid7()), str(uuid7())
    async with (
        open_persistence(pg_dsn, max_size=2) as db,
        run_writes.RunWrites.open(pg_dsn, max_size=2, settings=RUN_SETTINGS) as writes,
    ):
        saver = LendingSaver(db.run_pool, writes=writes)
        call = asyncio.create_task(first_checkpoint(saver, thread_id, checkpoint_id))
        for _ in range(3):
            await asyncio.sleep(0)  # queued, and its statement on the way
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        conn = await asyncpg.connect(pg_dsn)
        try:
            found = await conn.fetchval("SELECT count(*) FROM checkpoints WHERE thread_id = $1", thread_id)
        finally:
            await conn.close()
    assert found == 1


async def test_runs_read_the_checkpoint_langgraphs_own_saver_reads(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aget_tuple of the runs' saver is LangGraph's, its statements over asyncpg: the same tuples
    as the stock saver's, the psycopg pool never asked; a statement the reader does not translate
    is read again through psycopg."""
    thread_id, ids = str(uuid7()), (str(uuid7()), str(uuid7()))
    configs: list[Any] = [
        {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}},
        {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": ids[0]}},
        {"configurable": {"thread_id": str(uuid7()), "checkpoint_ns": ""}},
    ]
    async with open_persistence(pg_dsn, max_size=2) as db:
        stock = AsyncPostgresSaver(db.pool)
        await write_everything(stock, thread_id, lambda n: f"{n:032}.0.5", ids)
        expected = [await stock.aget_tuple(config) for config in configs]
        found = [await db.run_checkpointer.aget_tuple(config) for config in configs]
        over_asyncpg = db.run_pool.get_stats().get("requests_num", 0)
        monkeypatch.setattr(run_writes, "numbered", lambda query: None)
        again = [await db.run_checkpointer.aget_tuple(config) for config in configs]
        over_psycopg = db.run_pool.get_stats().get("requests_num", 0)
    assert found == expected
    assert expected[0] is not None
    assert len(expected[0].pending_writes or []) == 5
    assert expected[1] is not None
    assert expected[2] is None
    assert over_asyncpg == 0
    assert again == expected
    assert over_psycopg > 0


SOURCE_SHA256 = {
    "aget_tuple": "9237b115b7ab3e9f7951ef28727b39d0c3a2575ec33c5496126be31b7678ddc1",
    "aput": "c685c7a8c88b7431eea041e93c32a48238d2797bf761df001f9c64c3c3ec49d0",
    "aput_writes": "a2970ab04a7d7d5d93e137bc294fbe4602dca925537fbc3187e4bd0f40f1835f",
    "UPSERT_CHECKPOINT_BLOBS_SQL": "ff99c38464885bdc27b2d167b1ea0f5d039d2779a7ac0369f71977db1d487030",
    "UPSERT_CHECKPOINTS_SQL": "e2cd39f12c520a166e96ebe8c3eb5732fce8127db13afb30227f28b326b431e4",
    "UPSERT_CHECKPOINT_WRITES_SQL": "a1b0948d568ed564f538beb87ec67291c0a5a31b90a1e38a6445fdf6cf91e88c",
    "INSERT_CHECKPOINT_WRITES_SQL": "fe2c6da415745a49a569a91eacb4aecb999b59bd35ef89dd2996d7a687e90df2",
}
"""langgraph-checkpoint-postgres 3.2.0: the methods LendingSaver records or reads through
run_writes, and the statements run_writes.translate knows (BATCH_SQL joins the last four)."""


def test_run_writes_know_the_saver_of_the_locked_version() -> None:
    """An upgrade that changes any of these fails here, so that run_writes is compared with it again
    (then record the new digests)."""
    found = {}
    for name in SOURCE_SHA256:
        value = getattr(AsyncPostgresSaver, name)
        text = value if isinstance(value, str) else inspect.getsource(value)
        found[name] = hashlib.sha256(text.encode()).hexdigest()
    assert found == SOURCE_SHA256
