"""Runs' checkpoint writes over asyncpg (docs/decisions/0017).

LangGraph's Postgres saver sends each checkpoint (its blobs, then its row) and each task's writes as
one psycopg pipeline. On this path psycopg costs more CPU than the work it carries: every wait
registers and removes a reader and arms a timer, and a pipeline goes out as one packet per
statement plus a Sync and a Flush, each waking the database. A 2-node run sends seven such
pipelines.

`LendingSaver.aput` and `aput_writes` run LangGraph's own methods unchanged; only the cursor they
write through is a `Recorder`, and `RunWrites.send` then sends what they recorded over asyncpg, in
one round trip each, with the same effect:

* a checkpoint: its blobs and its row in one statement, the blobs' upsert as a data-modifying CTE
  of the row's (both commit together, as the pipeline's implicit transaction did);
* a checkpoint without blobs, and a task's writes: LangGraph's own statements (`executemany`,
  which asyncpg sends as one batch in one implicit transaction, row after row as psycopg did).

Anything of another shape, a statement this module does not know (an upgrade of the saver), and
parameters asyncpg refuses to encode where psycopg would adapt them (`DataError`) go out through
psycopg exactly as recorded, so the saver's behaviour never depends on this module knowing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import asyncpg
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from psycopg.types.json import Jsonb

RECORDING: ContextVar[bool] = ContextVar("langopen_recording_run_writes", default=False)
"""Set while LendingSaver.aput/aput_writes run: their pipeline cursor is a Recorder."""


@contextmanager
def recording() -> Iterator[None]:
    token = RECORDING.set(True)
    try:
        yield
    finally:
        RECORDING.reset(token)


@dataclass(frozen=True)
class Call:
    """One statement the saver sent: a row of parameters, or (`many`) a list of rows."""

    query: str
    params: Any
    many: bool


class Recorder:
    """Stands for the pipeline cursor aput and aput_writes write through (they read nothing back)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def execute(self, query: str, params: Any = None) -> None:
        self.calls.append(Call(query, params, many=False))

    async def executemany(self, query: str, params_seq: Iterable[Any]) -> None:
        self.calls.append(Call(query, list(params_seq), many=True))


CHECKPOINT_WITH_BLOBS_SQL = """
    WITH blobs AS (
        INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
        ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
    )
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
    VALUES ($7, $8, $9, $10, $11, $12)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
    DO UPDATE SET
        checkpoint = EXCLUDED.checkpoint,
        metadata = EXCLUDED.metadata
"""
"""LangGraph's UPSERT_CHECKPOINT_BLOBS_SQL (its rows as arrays) and UPSERT_CHECKPOINTS_SQL, in one."""

_PLACEHOLDER = re.compile(r"%s")
_numbered: dict[str, str | None] = {}


def numbered(query: str) -> str | None:
    """`query` with psycopg's `%s` placeholders as asyncpg's `$1, $2, …`; None when it holds any
    other `%` (a literal percent sign, a named placeholder), which this does not translate."""
    if query not in _numbered:
        counter = iter(range(1, len(query) + 1))
        converted = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", query)
        _numbered[query] = None if "%" in converted else converted
    return _numbered[query]


def _value(param: Any) -> Any:
    return param.obj if isinstance(param, Jsonb) else param


def _row(params: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(_value(param) for param in params)


def _columns(rows: list[Any]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


Statement = tuple[str, list[tuple[Any, ...]], bool]
"""(query, rows, many): one asyncpg `execute(query, *rows[0])` or `executemany(query, rows)`."""


def translate(saver: BasePostgresSaver, calls: list[Call]) -> Statement | None:
    """What to send over asyncpg for the calls of one aput or aput_writes, or None when they are not
    of a shape this knows (then they go out through psycopg as recorded)."""
    match calls:
        case [Call(many=True) as blobs, Call(many=False) as checkpoint] if (
            blobs.query == saver.UPSERT_CHECKPOINT_BLOBS_SQL
            and checkpoint.query == saver.UPSERT_CHECKPOINTS_SQL
        ):
            if not blobs.params:
                return _plain(checkpoint)
            return CHECKPOINT_WITH_BLOBS_SQL, [(*_columns(blobs.params), *_row(checkpoint.params))], False
        case [Call(many=False) as checkpoint] if checkpoint.query == saver.UPSERT_CHECKPOINTS_SQL:
            return _plain(checkpoint)
        case [Call(many=True) as writes] if writes.query in (
            saver.UPSERT_CHECKPOINT_WRITES_SQL,
            saver.INSERT_CHECKPOINT_WRITES_SQL,
        ):
            query = numbered(writes.query)
            return None if query is None else (query, [_row(row) for row in writes.params], True)
    return None


def _plain(call: Call) -> Statement | None:
    query = numbered(call.query)
    return None if query is None else (query, [_row(call.params)], False)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (`RESET ALL; UNLISTEN *; CLOSE ALL; …`), a round trip on
    every release: these connections only ever run the statements of `translate`."""


async def _init(conn: asyncpg.Connection) -> None:
    # As psycopg's Jsonb adapts its object by default: the text of json.dumps.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class RunWrites:
    """The asyncpg pool runs' checkpoint writes go through, with the session options of the runs'
    saver (functions.checkpoints.RUN_SETTINGS)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    @asynccontextmanager
    async def open(cls, dsn: str, *, max_size: int, settings: dict[str, str]) -> AsyncIterator[RunWrites]:
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_size, server_settings=settings, init=_init, reset=_keep_session
        )
        try:
            yield cls(pool)
        finally:
            await pool.close()

    async def send(self, saver: BasePostgresSaver, calls: list[Call]) -> bool:
        """Send `calls` over asyncpg; False (nothing sent) when psycopg must send them as recorded."""
        statement = translate(saver, calls)
        if statement is None:
            return False
        query, rows, many = statement
        if many and not rows:
            return True  # an executemany of no rows sends nothing
        try:
            async with self._pool.acquire() as conn:
                if many:
                    await conn.executemany(query, rows)
                else:
                    await conn.execute(query, *rows[0])
        except asyncpg.DataError:
            # A parameter asyncpg will not encode for its column (an int for a text column, say),
            # which psycopg adapts, or a value Postgres refused; the statement is atomic, so
            # nothing of it was written: psycopg sends it as LangGraph would (and fails the same
            # way if Postgres refuses the value).
            return False
        return True
