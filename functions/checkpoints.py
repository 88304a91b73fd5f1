"""LangGraph's own Postgres checkpointer and store: opening them, and creating their tables.

`setup()` runs LangGraph's migrations under a Postgres advisory lock, so several replicas (or a
`langopen migrate` job and a starting function) can run it at once without racing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

SETUP_LOCK_KEY = 0x4C4F_4350  # "LOCP": serialises LangGraph table setup across processes
POOL_TIMEOUT_SECONDS = 10.0


@dataclass
class Persistence:
    pool: AsyncConnectionPool[AsyncConnection[DictRow]]
    checkpointer: AsyncPostgresSaver
    store: AsyncPostgresStore


async def setup(dsn: str) -> None:
    """Create or migrate LangGraph's checkpoint and store tables (idempotent, replica-safe)."""
    async with await AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        try:
            await AsyncPostgresSaver(conn).setup()
            await AsyncPostgresStore(conn).setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))


@asynccontextmanager
async def open_persistence(dsn: str, *, max_size: int = 20) -> AsyncIterator[Persistence]:
    pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        open=False,
        timeout=POOL_TIMEOUT_SECONDS,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True)
    try:
        yield Persistence(pool=pool, checkpointer=AsyncPostgresSaver(pool), store=AsyncPostgresStore(pool))
    finally:
        await pool.close()
