"""Runs' checkpoint writes over asyncpg, the writes of concurrent runs in one statement
(docs/decisions/0017, 0018).

LangGraph's Postgres saver sends each checkpoint (its blobs, then its row) and each task's writes as
one psycopg pipeline. On this path psycopg costs more CPU than the work it carries: every wait
registers and removes a reader and arms a timer, and a pipeline goes out as one packet per
statement plus a Sync and a Flush, each waking the database. A 2-node run sends seven such
pipelines, and every round trip costs the database a wake-up and a transaction of its own.

`LendingSaver.aput` and `aput_writes` run LangGraph's own methods unchanged; only the cursor they
write through is a `Recorder`. `translate` turns what one call recorded into the rows of four
tables' parts (`Rows`), and `RunWrites.send` queues them: one flusher sends whatever is queued as
one statement (`BATCH_SQL`: each part an `INSERT … SELECT FROM unnest(…)` with LangGraph's own
conflict action, three of them data-modifying CTEs of the fourth), the next batch once that one is
done. So a run's calls, and those of every run of the process, that arrive while a statement is
in flight share the next one, and each call returns once its rows are committed; a run that does
not wait for its writes (durability `async` or `exit`) holds a `Pending` instead, and its calls
return once queued (docs/decisions/0021).

Why that is the same as LangGraph's statements one after the other, in the order they arrived:

* a batch never holds two rows with the same key (a call whose rows collide with the batch's
  starts the next one; a call that collides with itself goes out through psycopg as recorded), so
  no row depends on the order of the rows inside a statement;
* batches go out one at a time, in the order the calls arrived;
* a statement is atomic: when one fails, nothing of it was written, and its calls are sent again
  one by one, so each gets its own outcome.

Anything of another shape, a statement this module does not know (an upgrade of the saver), and
parameters asyncpg refuses to encode where psycopg would adapt them (`DataError`) go out through
psycopg exactly as recorded, so the saver's behaviour never depends on this module knowing it.

A run's checkpoint read (`aget_tuple`) goes over the same pool through a `Reader`, with the same
fallback to psycopg (docs/decisions/0020).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)

Routing = Literal["record", "read"]
ROUTING: ContextVar[Routing | None] = ContextVar("langopen_run_saver_routing", default=None)
"""Which cursor LendingSaver hands out: a Recorder while aput/aput_writes run ("record"), a Reader
while aget_tuple runs ("read")."""


@contextmanager
def routing(how: Routing) -> Iterator[None]:
    token = ROUTING.set(how)
    try:
        yield
    finally:
        ROUTING.reset(token)


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


class UnknownReadError(Exception):
    """A statement `Reader` does not translate (a `%` other than `%s`): psycopg reads instead."""


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


class Reader:
    """Stands for the cursor aget_tuple reads through: its statements go over asyncpg, and its rows
    come back as psycopg's binary dict rows do (bytea and bytea arrays as bytes, jsonb decoded)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._row: dict[str, Any] | None = None

    async def execute(self, query: str, params: Any = (), *, binary: bool = False) -> None:
        converted = numbered(query)
        if converted is None:
            raise UnknownReadError(query)
        record = await self._pool.fetchrow(converted, *params)
        self._row = None if record is None else dict(record.items())

    async def fetchone(self) -> dict[str, Any] | None:
        row, self._row = self._row, None
        return row


BATCH_SQL = """
    WITH blobs AS (
        INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
        ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
    ), upserted_writes AS (
        INSERT INTO checkpoint_writes
            (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
        SELECT * FROM unnest(
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::text[],
            $14::text[], $15::bytea[]
        )
        ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET
            channel = EXCLUDED.channel,
            type = EXCLUDED.type,
            blob = EXCLUDED.blob
    ), inserted_writes AS (
        INSERT INTO checkpoint_writes
            (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
        SELECT * FROM unnest(
            $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::int[], $22::text[],
            $23::text[], $24::bytea[]
        )
        ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO NOTHING
    )
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
    SELECT * FROM unnest($25::text[], $26::text[], $27::text[], $28::text[], $29::jsonb[], $30::jsonb[])
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
    DO UPDATE SET
        checkpoint = EXCLUDED.checkpoint,
        metadata = EXCLUDED.metadata
"""
"""LangGraph's UPSERT_CHECKPOINT_BLOBS_SQL, UPSERT_CHECKPOINT_WRITES_SQL, INSERT_CHECKPOINT_WRITES_SQL
and UPSERT_CHECKPOINTS_SQL, their rows as arrays, in one statement."""

_TEXT, _INT, _BYTES, _JSON = (str,), (int,), (bytes, bytearray, memoryview), (object,)
BLOB_TYPES = (_TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _BYTES)
WRITE_TYPES = (_TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _INT, _TEXT, _TEXT, _BYTES)
CHECKPOINT_TYPES = (_TEXT, _TEXT, _TEXT, _TEXT, _JSON, _JSON)
"""What asyncpg encodes for each column of BATCH_SQL's parts (None, NULL, always): a row holding
anything else goes out through psycopg, which adapts more (an int for a text column, say)."""
BLOB_COLUMNS, WRITE_COLUMNS, CHECKPOINT_COLUMNS = len(BLOB_TYPES), len(WRITE_TYPES), len(CHECKPOINT_TYPES)
MAX_BATCH_ROWS = 512
"""Rows of one statement, at most (a single call may have more: it then goes alone)."""

Key = tuple[Any, ...]


@dataclass
class Rows:
    """The rows one aput or aput_writes call writes, by part of BATCH_SQL."""

    blobs: list[tuple[Any, ...]] = field(default_factory=list)
    upserted_writes: list[tuple[Any, ...]] = field(default_factory=list)
    inserted_writes: list[tuple[Any, ...]] = field(default_factory=list)
    checkpoints: list[tuple[Any, ...]] = field(default_factory=list)

    def parts(self) -> tuple[list[tuple[Any, ...]], ...]:
        return (self.blobs, self.upserted_writes, self.inserted_writes, self.checkpoints)

    def count(self) -> int:
        return sum(len(part) for part in self.parts())

    def keys(self) -> set[Key]:
        """The unique key of every row (a table's tag first; both writes parts share a table)."""
        found = {("b", *row[:4]) for row in self.blobs}
        for part in (self.upserted_writes, self.inserted_writes):
            found.update(("w", *row[:4], row[5]) for row in part)
        found.update(("c", *row[:3]) for row in self.checkpoints)
        return found

    def extend(self, other: Rows) -> None:
        for mine, theirs in zip(self.parts(), other.parts(), strict=True):
            mine.extend(theirs)

    def arguments(self) -> list[list[Any]]:
        """BATCH_SQL's thirty parameters: each part's columns."""
        widths = (BLOB_COLUMNS, WRITE_COLUMNS, WRITE_COLUMNS, CHECKPOINT_COLUMNS)
        args: list[list[Any]] = []
        for part, width in zip(self.parts(), widths, strict=True):
            args += [list(column) for column in zip(*part, strict=True)] if part else [[]] * width
        return args


def _value(param: Any) -> Any:
    return param.obj if isinstance(param, Jsonb) else param


def _row(params: Iterable[Any], types: tuple[tuple[type, ...], ...]) -> tuple[Any, ...] | None:
    row = tuple(_value(param) for param in params)
    if len(row) != len(types):
        return None
    fits = all(value is None or isinstance(value, kinds) for value, kinds in zip(row, types, strict=True))
    return row if fits else None


def _rows(
    params: Iterable[Iterable[Any]], types: tuple[tuple[type, ...], ...]
) -> list[tuple[Any, ...]] | None:
    rows = [_row(row, types) for row in params]
    return None if any(row is None for row in rows) else rows  # type: ignore[return-value]


def translate(saver: BasePostgresSaver, calls: list[Call]) -> Rows | None:
    """The rows the calls of one aput or aput_writes write, or None when they are not of a shape
    this knows, or write one row twice (then they go out through psycopg as recorded)."""
    rows = Rows()
    match calls:
        case [Call(many=True) as blobs, Call(many=False) as checkpoint] if (
            blobs.query == saver.UPSERT_CHECKPOINT_BLOBS_SQL
            and checkpoint.query == saver.UPSERT_CHECKPOINTS_SQL
        ):
            found_blobs = _rows(blobs.params, BLOB_TYPES)
            found_checkpoint = _row(checkpoint.params, CHECKPOINT_TYPES)
            if found_blobs is None or found_checkpoint is None:
                return None
            rows.blobs, rows.checkpoints = found_blobs, [found_checkpoint]
        case [Call(many=False) as checkpoint] if checkpoint.query == saver.UPSERT_CHECKPOINTS_SQL:
            found_checkpoint = _row(checkpoint.params, CHECKPOINT_TYPES)
            if found_checkpoint is None:
                return None
            rows.checkpoints = [found_checkpoint]
        case [Call(many=True) as writes] if writes.query in (
            saver.UPSERT_CHECKPOINT_WRITES_SQL,
            saver.INSERT_CHECKPOINT_WRITES_SQL,
        ):
            found_writes = _rows(writes.params, WRITE_TYPES)
            if found_writes is None:
                return None
            if writes.query == saver.UPSERT_CHECKPOINT_WRITES_SQL:
                rows.upserted_writes = found_writes
            else:
                rows.inserted_writes = found_writes
        case _:
            return None
    try:
        repeated = len(rows.keys()) != rows.count()
    except TypeError:  # a key column holds something unhashable: not LangGraph's str/int values
        return None
    # One row twice: only row after row (psycopg) gives LangGraph's result.
    return None if repeated else rows


@dataclass
class _Queued:
    rows: Rows
    keys: set[Key]
    done: asyncio.Future[bool]


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (`RESET ALL; UNLISTEN *; CLOSE ALL; …`), a round trip on
    every release: these connections only ever run BATCH_SQL and the saver's reads."""


async def _init(conn: asyncpg.Connection) -> None:
    # As psycopg's Jsonb adapts its object by default: the text of json.dumps.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class RunWrites:
    """The queue that batches runs' checkpoint writes, and the asyncpg connection they go through,
    with the session options of the runs' saver (functions.checkpoints.RUN_SETTINGS)."""

    def __init__(self, pool: asyncpg.Pool, *, linger_seconds: float = 0.0) -> None:
        self._pool = pool
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None
        self._linger = linger_seconds
        self._due = asyncio.Event()
        """Set: the flusher sends now, whatever may wait (`hurry`)."""
        self.statements = 0
        """Batch statements sent (a count for tests and benchmarks)."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls, dsn: str, *, max_size: int, settings: dict[str, str], linger_seconds: float = 0.0
    ) -> AsyncIterator[RunWrites]:
        # The flusher holds one connection at a time; runs' checkpoint reads (`reader`) the others.
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_size, server_settings=settings, init=_init, reset=_keep_session
        )
        writes = cls(pool, linger_seconds=linger_seconds)
        try:
            yield writes
        finally:
            if writes._flusher is not None:
                writes.hurry()
                await asyncio.wait({writes._flusher})
            await pool.close()

    def reader(self) -> Reader:
        """A cursor for one aget_tuple of a run (docs/decisions/0018)."""
        return Reader(self._pool)

    def queue(
        self, saver: BasePostgresSaver, calls: list[Call], *, may_wait: bool = False
    ) -> asyncio.Future[bool] | None:
        """Queue the rows of `calls` (one aput or aput_writes) for the next batch, and return the
        future of their outcome: True once they are committed, False (nothing written) when psycopg
        must send the calls as recorded, or the statement's error. None when this does not take
        the calls at all (psycopg sends them).

        `may_wait`: the caller does not wait for the outcome yet (a run's `Pending`), so when no
        statement is in flight the rows wait up to `linger_seconds` for more calls, or until
        somebody does wait (`hurry`); a short run's writes then share one statement."""
        rows = translate(saver, calls)
        if rows is None:
            return None
        done = asyncio.get_running_loop().create_future()
        if not rows.count():
            done.set_result(True)  # an executemany of no rows sends nothing
            return done
        self._queue.append(_Queued(rows, rows.keys(), done))
        if self._flusher is None:
            self._due.clear()
            self._flusher = asyncio.create_task(self._flush(), name="run writes")
        if not may_wait:
            self.hurry()
        return done

    def hurry(self) -> None:
        """Send what is queued without waiting for the linger (somebody waits for it)."""
        self._due.set()

    async def send(self, saver: BasePostgresSaver, calls: list[Call]) -> bool:
        """`queue`, then wait for the outcome. False (nothing sent) when psycopg must send the calls
        as recorded."""
        done = self.queue(saver, calls)
        if done is None:
            return False
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            # The rows may be in a statement on its way already, which cannot be called back: this
            # call returns only once they are written or not, so that when a stopped run's task
            # has ended, nothing of it is still to land.
            await settled(done)
            raise

    def _take(self) -> list[_Queued]:
        """The longest head of the queue whose rows fit one statement without a repeated key."""
        batch: list[_Queued] = []
        keys: set[Key] = set()
        count = 0
        for queued in self._queue:
            size = queued.rows.count()
            if batch and (count + size > MAX_BATCH_ROWS or not keys.isdisjoint(queued.keys)):
                break
            batch.append(queued)
            keys |= queued.keys
            count += size
        del self._queue[: len(batch)]
        return batch

    async def _flush(self) -> None:
        try:
            if self._linger > 0 and not self._due.is_set():
                timer = asyncio.get_running_loop().call_later(self._linger, self._due.set)
                try:
                    await self._due.wait()
                finally:
                    timer.cancel()
            while self._queue:
                batch = self._take()
                try:
                    await self._send(batch)
                except asyncio.CancelledError:
                    self._queue[:0] = batch
                    raise
                except Exception as exc:  # a failure of this code, not of a statement (_send settles those)
                    log.exception("sending %d checkpoint write calls failed", len(batch))
                    for queued in batch:
                        if not queued.done.done():
                            queued.done.set_exception(exc)
        except asyncio.CancelledError:  # the loop is shutting down: nobody will send these
            for queued in self._queue:
                queued.done.cancel()
            self._queue.clear()
            raise
        finally:
            self._flusher = None

    async def _send(self, batch: list[_Queued]) -> None:
        rows = Rows()
        for queued in batch:
            rows.extend(queued.rows)
        try:
            await self._execute(rows)
        except Exception as exc:
            if len(batch) > 1:
                # Nothing of the statement was written: each call again alone, for its own outcome.
                for queued in batch:
                    await self._send([queued])
                return
            if not batch[0].done.done():
                _settle(batch[0].done, exc)
            return
        for queued in batch:
            if not queued.done.done():
                queued.done.set_result(True)

    async def _execute(self, rows: Rows) -> None:
        async with self._pool.acquire() as conn:
            self.statements += 1
            await conn.execute(BATCH_SQL, *rows.arguments())


async def settled(done: asyncio.Future[bool]) -> None:
    """Wait until `done` has an outcome, without raising it (it is marked retrieved)."""
    if not done.done():
        await asyncio.wait({done})
    if not done.cancelled():
        done.exception()


class Pending:
    """The checkpoint writes of one run that went on without waiting for them (docs/decisions/0021).

    With durability `async` or `exit`, LangGraph does not wait for a checkpoint write before the
    next step, only at the end of the run, and a run's checkpoints follow each other
    (`_checkpointer_put_after_previous`). While a run holds a `Pending` (`PENDING`), LendingSaver's
    aput and aput_writes queue their rows and return at once; the queue keeps their order. So the
    writes of a whole run share one or two statements instead of following each other one round
    trip at a time. The executor calls `settle` before it reports how the run ended, the saver
    before a read of the run and before a call it sends through psycopg, so nothing is read or
    written out of order, and no run ends before its checkpoints are written.
    """

    def __init__(self) -> None:
        self._queued: list[
            tuple[asyncio.Future[bool], Callable[[], Awaitable[None]], Callable[[], None]]
        ] = []

    def add(
        self,
        done: asyncio.Future[bool],
        as_recorded: Callable[[], Awaitable[None]],
        hurry: Callable[[], None],
    ) -> None:
        """A call's queued rows (`done`, from RunWrites.queue with `may_wait`), how psycopg sends it
        when asyncpg's statement could not take it (`done` is False), and how to have it sent now
        (RunWrites.hurry)."""
        self._queued.append((done, as_recorded, hurry))

    async def settle(self) -> None:
        """Return once every call added so far is written, in order; raise the first failure (the
        others are still waited for)."""
        failure: BaseException | None = None
        while self._queued:
            done, as_recorded, hurry = self._queued[0]
            if not done.done():
                hurry()
            await settled(done)
            del self._queued[0]
            try:
                if not done.result():
                    await as_recorded()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


PENDING: ContextVar[Pending | None] = ContextVar("langopen_run_pending_writes", default=None)
"""The `Pending` of the run whose task this is; None: each write waits for its statement."""


def _settle(done: asyncio.Future[bool], exc: Exception) -> None:
    if isinstance(exc, asyncpg.DataError):
        # A parameter asyncpg will not encode for its column (an int for a text column, say),
        # which psycopg adapts, or a value Postgres refused; the statement is atomic, so nothing
        # of it was written: psycopg sends the call as LangGraph would (and fails the same way if
        # Postgres refuses the value).
        done.set_result(False)
    else:
        done.set_exception(exc)
