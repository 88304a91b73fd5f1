"""The asyncpg pool: JSON columns decode to Python objects with orjson; driver errors are wrapped here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from router.errors import RouterError

P = ParamSpec("P")
T = TypeVar("T")

Pool = asyncpg.Pool
Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection, whether acquired from a pool or opened alone."""
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
"""Anything that runs a query: a pool (one statement, autocommit) or a connection."""


class StoreError(RouterError):
    """The database failed."""

    code = "store_error"


class UniqueViolationError(StoreError):
    """A row with that key exists already."""


def _encode(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init(conn: asyncpg.Connection) -> None:
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=_encode, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (`RESET ALL; UNLISTEN *; CLOSE ALL; …`), a round trip
    on every release. The router never changes session state on pooled connections: it takes no
    session-level advisory locks, LISTENs on nothing, and SETs nothing."""


@asynccontextmanager
async def open_pool(dsn: str, *, min_size: int, max_size: int, command_timeout: float) -> AsyncIterator[Pool]:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init,
        reset=_keep_session,
    )
    try:
        yield pool
    finally:
        await pool.close()


def wrap_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Translate asyncpg errors into store errors at the adapter boundary."""

    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolationError(str(exc)) from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper
