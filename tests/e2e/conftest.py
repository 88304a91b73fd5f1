"""End-to-end fixtures: one LangOpen stack (real processes, real Postgres and Redis) per session,
driven with the official `langgraph-sdk` client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.stack import Stack


def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack with its own database and Redis prefix, for a fixture of any scope."""
    with migrated_database("t_e2e") as dsn:
        workdir: Path = tmp_path_factory.mktemp("stack")
        s = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-e2e:{uuid.uuid4().hex[:8]}",
            workdir=workdir,
            extra_env={"LANGOPEN_HEARTBEAT_SECONDS": "5"},
        )
        try:
            s.start()
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from own_stack(tmp_path_factory)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[LangGraphClient]:
    c = get_client(url=stack.url, api_key=None)
    try:
        yield c
    finally:
        await c.http.client.aclose()
