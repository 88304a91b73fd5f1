"""Shared fixtures: real PostgreSQL and Redis (the machine's, or the embedded ones from `langopen dev`).

- `pg_dsn`: a fresh database per test, copied from a template migrated once per session with the
  same code path as production (router migrations + LangGraph checkpointer/store setup).
- `redis_url` + `redis_prefix`: a key prefix unique to the test, so tests never see each other's keys.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import asyncpg
import pytest

ADMIN_DSN = os.environ.get("LANGOPEN_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LANGOPEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _dsn_for(name: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(dsn: str) -> None:
    from cli import migrate

    await migrate.apply_all(dsn)


@contextmanager
def migrated_database(prefix: str) -> Iterator[str]:
    """A database of its own (`prefix` + a random suffix), migrated, dropped afterwards; its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_migrate(_dsn_for(name)))
        yield _dsn_for(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    name = f"t_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_migrate(_dsn_for(name)))
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_dsn(template_db: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield _dsn_for(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    return f"langopen-test:{uuid.uuid4().hex[:10]}"


REPORTED_PROPERTIES = ("schemathesis_", "cross_tenant_")  # measurements the closing notes quote


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Properties tests record for the notes (schemathesis request counts, cross-tenant pairs), one a
    line. Here in the root conftest because only it is loaded by xdist's controller, which prints."""
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, value in report.user_properties:
            if name.startswith(REPORTED_PROPERTIES):
                terminalreporter.write_line(f"{report.nodeid}: {name} = {value}")
