"""Runs' checkpoint writes over asyncpg (functions.run_writes, docs/decisions/0017): the rows are the
ones LangGraph's own saver writes, and what the translation does not know goes out through psycopg."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, empty_checkpoint
from langgraph.checkpoint.postgres import base as pg_base
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT

from contracts.ids import uuid7
from functions import run_writes
from functions.checkpoints import LendingSaver, open_persistence

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
        pytest.param(lambda n: n, id="integer versions (asyncpg refuses them for text: psycopg sends them)"),
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
        assert psycopg_checkouts == 0  # every statement went over asyncpg
    else:
        assert psycopg_checkouts > 0


def test_translation_leaves_unknown_statements_to_psycopg() -> None:
    saver = pg_base.BasePostgresSaver()
    row = ("t", "", "c", "task", "", 0, "ch", "json", b"1")
    known = run_writes.Call(saver.INSERT_CHECKPOINT_WRITES_SQL, [row], many=True)
    assert run_writes.translate(saver, [known]) is not None
    unknown = run_writes.Call("DELETE FROM checkpoints WHERE thread_id = %s", ("t",), many=False)
    assert run_writes.translate(saver, [unknown]) is None
    assert run_writes.translate(saver, [known, known]) is None
    assert run_writes.numbered("SELECT %s, %s") == "SELECT $1, $2"
    assert run_writes.numbered("SELECT %s WHERE x LIKE 'a%%'") is None


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


SOURCE_SHA256 = {
    "aput": "c685c7a8c88b7431eea041e93c32a48238d2797bf761df001f9c64c3c3ec49d0",
    "aput_writes": "a2970ab04a7d7d5d93e137bc294fbe4602dca925537fbc3187e4bd0f40f1835f",
    "UPSERT_CHECKPOINT_BLOBS_SQL": "ff99c38464885bdc27b2d167b1ea0f5d039d2779a7ac0369f71977db1d487030",
    "UPSERT_CHECKPOINTS_SQL": "e2cd39f12c520a166e96ebe8c3eb5732fce8127db13afb30227f28b326b431e4",
    "UPSERT_CHECKPOINT_WRITES_SQL": "a1b0948d568ed564f538beb87ec67291c0a5a31b90a1e38a6445fdf6cf91e88c",
    "INSERT_CHECKPOINT_WRITES_SQL": "fe2c6da415745a49a569a91eacb4aecb999b59bd35ef89dd2996d7a687e90df2",
}
"""langgraph-checkpoint-postgres 3.2.0: the methods LendingSaver records and the statements
run_writes.translate knows (CHECKPOINT_WITH_BLOBS_SQL joins the first two)."""


def test_run_writes_know_the_saver_of_the_locked_version() -> None:
    """An upgrade that changes any of these fails here, so that run_writes is compared with it again
    (then record the new digests)."""
    found = {}
    for name in SOURCE_SHA256:
        value = getattr(AsyncPostgresSaver, name)
        text = value if isinstance(value, str) else inspect.getsource(value)
        found[name] = hashlib.sha256(text.encode()).hexdigest()
    assert found == SOURCE_SHA256
