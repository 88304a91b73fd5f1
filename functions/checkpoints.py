"""LangGraph's own Postgres checkpointer and store: opening them, and creating their tables.

`setup()` runs LangGraph's migrations under a Postgres advisory lock, so several replicas (or a
`langopen migrate` job and a starting function) can run it at once without racing. The store's vector
tables depend on `store.index` of langgraph.json (dims), which only the deployment knows: `setup_index()`
creates them, and a function whose config has an index runs it at startup (docs/decisions/0005).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import asyncpg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.store.base import TTLConfig
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.postgres.base import PostgresIndexConfig
from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from contracts.runtime import DEFAULT_DEPLOYMENT_ID
from functions import run_writes

logger = logging.getLogger(__name__)

SETUP_LOCK_KEY = 0x4C4F_4350  # "LOCP": serialises LangGraph table setup across processes
POOL_TIMEOUT_SECONDS = 10.0
T = TypeVar("T")


@dataclass
class Persistence:
    pool: AsyncConnectionPool[AsyncConnection[DictRow]]
    checkpointer: AsyncPostgresSaver
    """For writes a client is told about when they commit (state updates) and for reads."""
    store: AsyncPostgresStore
    run_pool: AsyncConnectionPool[AsyncConnection[DictRow]]
    run_checkpointer: LendingSaver
    """For the checkpoints runs write: commits without waiting for the WAL flush (see RUN_OPTIONS),
    and keeps the connections it just used at hand between statements (LendingSaver)."""


RUN_SETTINGS = {"synchronous_commit": "off"}
RUN_OPTIONS = " ".join(f"-c {name}={value}" for name, value in RUN_SETTINGS.items())
"""Session options of the run checkpointer's connections, psycopg's and asyncpg's (docs/decisions/0014).

A run's checkpoints need not wait for their own WAL flush: nobody is told they are durable until
the router records the run's outcome, a synchronous commit made after them, and flushing the WAL
up to that commit flushes every record before it. If Postgres stops in between, the outcome was
never recorded: the lease runs out and the next attempt resumes from the last checkpoint that
reached the disk, as after a crash of the function. Everything else (state updates, the store)
keeps synchronous commits, because its caller is answered as soon as it commits."""


async def setup(dsn: str, *, index: PostgresIndexConfig | None = None) -> None:
    """Create or migrate LangGraph's checkpoint and store tables (idempotent, replica-safe); with
    `index`, also the store's vector tables (needs the pgvector extension)."""
    async with await AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row
    ) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        try:
            await AsyncPostgresSaver(conn).setup()
            await AsyncPostgresStore(conn, index=index).setup()
            await _scope_legacy_items(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


SCOPED_PREFIX = r"^deployment-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.|$)"
SCOPE_LEGACY_ITEMS = "UPDATE {} SET prefix = %(label)s || '.' || prefix WHERE prefix !~ %(scoped)s"
"""Store items from before tenancy (no `deployment-<uuid>` first label) belong to the default
deployment: move them under its label (functions.store.DeploymentStore). Idempotent."""


async def _scope_legacy_items(conn: AsyncConnection[DictRow]) -> None:
    params = {"label": f"deployment-{DEFAULT_DEPLOYMENT_ID}", "scoped": SCOPED_PREFIX}
    for table in ("store", "store_vectors"):
        found = await (await conn.execute("SELECT to_regclass(%s) AS t", (table,))).fetchone()
        if found is not None and found["t"] is not None:
            await conn.execute(sql.SQL(SCOPE_LEGACY_ITEMS).format(sql.Identifier(table)), params)


async def setup_index(dsn: str, index: PostgresIndexConfig) -> None:
    """Create or migrate the store's tables including the vector tables `index` needs."""
    async with await AsyncConnection.connect(
        dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row
    ) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        try:
            await AsyncPostgresStore(conn, index=index).setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


@asynccontextmanager
async def open_persistence(
    dsn: str,
    *,
    max_size: int = 20,
    index: PostgresIndexConfig | None = None,
    ttl: TTLConfig | None = None,
    sweep_interval_minutes: float | None = None,
    write_linger_seconds: float = 0.0,
) -> AsyncIterator[Persistence]:
    """The pools, checkpointers and store of one process (each pool up to `max_size` connections).
    The store gets the deployment's `index` and `ttl`; with `sweep_interval_minutes` its TTL sweeper
    deletes expired items until the block exits. `write_linger_seconds`: RunWrites' linger."""
    pool = await _open_pool(dsn, max_size=max_size)
    run_pool = await _open_pool(dsn, max_size=max_size, options=RUN_OPTIONS)
    checkpointer = AsyncPostgresSaver(pool)
    checkpointer.lock = PooledLock()
    store = AsyncPostgresStore(pool, index=index, ttl=ttl)
    try:
        async with run_writes.RunWrites.open(
            dsn, max_size=max_size, settings=RUN_SETTINGS, linger_seconds=write_linger_seconds
        ) as writes:
            run_checkpointer = LendingSaver(run_pool, writes=writes)
            run_checkpointer.lock = PooledLock()
            try:
                if sweep_interval_minutes is not None and ttl is not None:
                    # langgraph types the interval `int` but sleeps `float(minutes) * 60`: fractions work.
                    await store.start_ttl_sweeper(cast(int, sweep_interval_minutes))
                yield Persistence(
                    pool=pool,
                    checkpointer=checkpointer,
                    store=store,
                    run_pool=run_pool,
                    run_checkpointer=run_checkpointer,
                )
            finally:
                await store.stop_ttl_sweeper(timeout=POOL_TIMEOUT_SECONDS)
                await run_checkpointer.release_idle()
    finally:
        await run_pool.close()
        await pool.close()


async def _open_pool(
    dsn: str, *, max_size: int, options: str | None = None
) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    if options is not None:
        kwargs["options"] = options
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
        dsn, min_size=1, max_size=max_size, open=False, timeout=POOL_TIMEOUT_SECONDS, kwargs=kwargs
    )
    await pool.open(wait=True)
    return pool


class PooledLock(asyncio.Lock):
    """The lock of a pool-backed AsyncPostgresSaver: it never waits.

    The saver takes its one instance lock around every statement, which guards a single shared
    connection; with a pool each statement gets its own connection, so the lock only made every run
    of the process queue behind every other run's round trip (one checkpoint statement in flight per
    process; langchain-ai/langgraph#7259, fixed the same way in #7269 and in AsyncPostgresStore).
    The order that matters is kept by LangGraph itself: a run's checkpoints are written one after
    the other (`_checkpointer_put_after_previous`), and an attempt returns only after all its writes.
    """

    async def acquire(self) -> Literal[True]:
        return True

    def release(self) -> None:
        pass


RUN_START: ContextVar[asyncio.Future[bool] | None] = ContextVar("langopen_run_start", default=None)
"""The run's check for a cancel sent before it started (functions.execute): True once it may take
its first step, False when a cancel came first or the check failed. The run's task carries it;
LendingSaver's first read of the run waits for it after its own statement, so the two round trips
overlap and no step runs before the check."""


class StoppedBeforeStartError(Exception):
    """The run may not take its first step (RUN_START was False)."""


REQUESTS_WAITING = "requests_waiting"  # AsyncConnectionPool.get_stats(): clients queued for a connection
LEND_SECONDS = 30.0
"""Longest a LendingSaver keeps a connection out of its pool before handing it back."""


class LendingSaver(AsyncPostgresSaver):
    """LangGraph's pooled Postgres saver, keeping the connections it just used for its next statements.

    The saver checks a connection out of its pool for every statement (a 2-node run makes eight:
    one read, four checkpoints, three write batches), and each `AsyncConnectionPool.connection()`
    adds two context managers, the pool's lock twice, its statistics, a commit of the (autocommit,
    idle) connection and its return checks; under load the pool also hands connections to queued
    requests through its waiting list, a loop turn each, and rotates through all its connections.
    Measured with `bench/function_cpu.py --concurrency 16` (8 ABBA-alternated pairs of 1000 runs on
    a busy 2-core machine): CPU per run lower in all 8 pairs, median 4.9 ms against 6.2 ms, and
    pool checkouts from 8 to about 0.5 per run.

    So a connection this saver used goes onto a short stack of idle ones instead of back to the
    pool, and the next statement of any run takes the most recent from there; only when the stack
    is empty does it check one out of the pool. The statements and the order of a run's statements
    are LangGraph's own. With `writes` (as `open_persistence` builds it), what `aput` and
    `aput_writes` send goes over asyncpg instead, in statements shared with the process's other runs
    (functions.run_writes, docs/decisions/0017, 0018); the lending then serves the reads.

    What keeps it equivalent to checking out per statement:

    * A connection is held only for one statement (or one pipeline) at a time, as before; the idle
      stack holds connections nobody is using, any run's next statement takes them. The pool's
      `max_size` still bounds them all (they count as checked out).
    * A connection goes back to the pool instead, where the pool's own checks apply, when the
      statement failed or was cancelled (after a rollback, as `connection()` does), when it is not
      idle (transaction open, broken, closed), when somebody is queued for a connection of the pool
      (who would otherwise wait for one lying on the stack), or when it has been
      out of the pool for `LEND_SECONDS` (so the pool's `max_lifetime`, `drain()` and reconnection
      still reach every connection within that delay; each release also sends the longest idle
      one home once it is that old).
    * `release_idle()` runs before the pool closes (`open_persistence`), so the pool closes every
      connection; statements still running then hand theirs back to the pool after use.

    The saver's statements run in autocommit mode, so a connection left idle between statements
    carries no transaction or session state from one run to another beyond what the pool's own
    reuse already carries (prepared statements, the connection's options).
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[DictRow]],
        *,
        writes: run_writes.RunWrites | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(pool, serde=serde)
        self._pool = pool
        self._writes = writes
        """Where aput/aput_writes send their statements (functions.run_writes); None: psycopg."""
        self._idle: list[tuple[float, AsyncConnection[DictRow]]] = []
        """(checked out at, connection), most recently used last."""
        self._releasing = False

    @property
    def writes(self) -> run_writes.RunWrites | None:
        """Where aput/aput_writes send their rows; None: psycopg."""
        return self._writes

    @property
    def idle_connections(self) -> int:
        """Connections on the idle stack (checked out of the pool, used by nobody)."""
        return len(self._idle)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        pending = run_writes.PENDING.get()
        if pending is not None:
            await pending.settle()  # a run reads what it wrote
        found = await self._read_tuple(config)
        start = RUN_START.get()
        if start is not None and not await asyncio.shield(start):
            raise StoppedBeforeStartError
        return found

    async def _read_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        if self._writes is None:
            return await super().aget_tuple(config)
        try:
            with run_writes.routing("read"):  # LangGraph's method, its statements over asyncpg
                return await super().aget_tuple(config)
        except (run_writes.UnknownReadError, asyncpg.DataError):
            # A statement the reader does not translate, or parameters asyncpg will not encode
            # where psycopg adapts them: a read changes nothing, so psycopg reads it again.
            return await super().aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        pending = run_writes.PENDING.get()
        if pending is not None:
            await pending.settle()  # a run lists what it wrote
        async for found in super().alist(config, filter=filter, before=before, limit=limit):
            yield found

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with run_writes.routing("record"):
            return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        with run_writes.routing("record"):
            await super().aput_writes(config, writes, task_id, task_path)

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        if pipeline and self._writes is not None and run_writes.ROUTING.get() == "record":
            # aput/aput_writes: recorded, then sent over asyncpg (functions.run_writes).
            recorder = run_writes.Recorder()
            yield cast(AsyncCursor[DictRow], recorder)
            pending = run_writes.PENDING.get()
            if pending is None:
                if not await self._writes.send(self, recorder.calls):
                    await self._send_as_recorded(recorder.calls)
                return
            # A run that does not wait for its writes (docs/decisions/0021): queued, in order.
            done = self._writes.queue(self, recorder.calls, may_wait=True)
            if done is None:
                await pending.settle()
                await self._send_as_recorded(recorder.calls)
            else:
                as_recorded = functools.partial(self._send_as_recorded, recorder.calls)
                pending.add(done, as_recorded, self._writes.hurry)
            return
        if not pipeline and self._writes is not None and run_writes.ROUTING.get() == "read":
            yield cast(AsyncCursor[DictRow], self._writes.reader())  # aget_tuple: over asyncpg
            return
        async with self._lent_cursor(pipeline=pipeline) as cur:
            yield cur

    async def _send_as_recorded(self, calls: list[run_writes.Call]) -> None:
        """What the recorded calls would have sent: one psycopg pipeline."""
        async with self._lent_cursor(pipeline=True) as cur:
            for call in calls:
                if call.many:
                    await cur.executemany(call.query, call.params)
                else:
                    await cur.execute(call.query, call.params)

    @asynccontextmanager
    async def _lent_cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        # AsyncPostgresSaver._cursor for a pool (no `pipe`), with _lend/_return around the statement.
        async with self.lock:
            since, conn = await self._lend()
            try:
                if not pipeline:
                    async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                        yield cur
                elif self.supports_pipeline:
                    async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                        yield cur
                else:
                    async with conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                        yield cur
            except BaseException:
                await self._give_up(conn)
                raise
            await self._return(since, conn)

    async def _lend(self) -> tuple[float, AsyncConnection[DictRow]]:
        if self._idle:
            return self._idle.pop()
        return time.monotonic(), await self._pool.getconn()

    async def _return(self, since: float, conn: AsyncConnection[DictRow]) -> None:
        now = time.monotonic()
        if (
            self._releasing
            or now - since > LEND_SECONDS
            or conn.pgconn.transaction_status != TransactionStatus.IDLE
            or self._pool.get_stats().get(REQUESTS_WAITING)
        ):
            await self._pool.putconn(conn)
        else:
            self._idle.append((since, conn))
        if self._idle and now - self._idle[0][0] > LEND_SECONDS:
            await self._pool.putconn(self._idle.pop(0)[1])

    async def _give_up(self, conn: AsyncConnection[DictRow]) -> None:
        # What leaving `AsyncConnectionPool.connection()` with an exception does.
        if not conn.closed:
            try:
                await conn.rollback()
            except Exception as exc:
                logger.warning("error ignored in rollback on %s: %s", conn, exc)
        await self._pool.putconn(conn)

    async def release_idle(self) -> None:
        """Hand every idle connection back to the pool; from now on each goes back after use."""
        self._releasing = True
        while self._idle:
            await self._pool.putconn(self._idle.pop()[1])


_INLINE_SERIALIZERS = frozenset(
    getattr(BasePostgresSaver, name) for name in ("_dump_blobs", "_dump_writes", "_load_writes")
)


class CheckpointExecutor(ThreadPoolExecutor):
    """The event loop's default executor, minus one thread hop per checkpoint write.

    LangGraph's Postgres saver hands the (de)serialisation of every checkpoint and write to
    `asyncio.to_thread`. For the small states of a typical step the hop costs several times the work
    (measured: a 2-node run took 12.5 ms with the hops, 6.3 ms without), so those three methods run
    inline; everything else (sync nodes, user code) still gets a worker thread.

    An inline call answers with an already resolved future of the calling loop, which
    `loop.run_in_executor` hands back as is: a `concurrent.futures.Future` would be chained to the
    loop through `call_soon_threadsafe`, one self-pipe wake-up per call (about 7 µs each, seven calls
    per 2-node run).
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        # asyncio.to_thread submits functools.partial(context.run, bound_method, ...)
        target = fn.args[0] if isinstance(fn, functools.partial) and fn.args else None
        if getattr(target, "__func__", None) not in _INLINE_SERIALIZERS:
            return super().submit(fn, *args, **kwargs)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not called from a loop (asyncio.to_thread never does that)
            plain: Future[T] = Future()
            _run_now(plain, fn, args, kwargs)
            return plain
        resolved: asyncio.Future[T] = loop.create_future()
        _run_now(resolved, fn, args, kwargs)
        # asyncio.wrap_future hands asyncio futures back unchanged; the cast only satisfies the signature.
        return cast(Future[T], resolved)


def _run_now(
    done: Future[Any] | asyncio.Future[Any], fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]
) -> None:
    try:
        done.set_result(fn(*args, **kwargs))
    except StopIteration as exc:  # asyncio futures refuse it; a coroutine would turn it into this
        done.set_exception(RuntimeError(repr(exc)))
    except BaseException as exc:
        done.set_exception(exc)


def install_executor(loop: asyncio.AbstractEventLoop, *, max_workers: int | None = None) -> None:
    """Make CheckpointExecutor the default executor of `loop` (call once, at start-up)."""
    loop.set_default_executor(CheckpointExecutor(max_workers=max_workers, thread_name_prefix="langopen-fn"))
