"""Semantic search end to end. It needs pgvector, which the machine's PostgreSQL may lack and the
embedded one of `langopen dev` ships, so these tests get a stack of their own on an embedded
PostgreSQL with tests/app/langgraph_index.json (`store.index` with the deterministic `memory.embed`,
`store.ttl.default_ttl` 60 minutes)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from cli import embedded
from tests.conftest import REDIS_URL, _migrate
from tests.e2e.stack import ROOT, Stack
from tests.e2e.test_store import expires_at, new_root

INDEX_CONFIG = ROOT / "tests" / "app" / "langgraph_index.json"


@pytest.fixture(scope="module")
def index_stack() -> Iterator[Stack]:
    folder = Path(tempfile.mkdtemp(prefix="langopen-store-"))
    folder.chmod(0o755)  # reachable by the account the embedded server runs as under root
    postgres = embedded.EmbeddedPostgres(folder / "data", user=embedded.service_user("langopen"))
    stack: Stack | None = None
    try:
        dsn = postgres.start()
        asyncio.run(_migrate(dsn))
        stack = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-e2e:{uuid.uuid4().hex[:8]}",
            workdir=folder,
            config=INDEX_CONFIG,
        )
        stack.start()
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def index_client(index_stack: Stack) -> AsyncIterator[LangGraphClient]:
    c = get_client(url=index_stack.url, api_key=None)
    try:
        yield c
    finally:
        await c.http.client.aclose()


async def _put_animals(client: LangGraphClient, ns: list[str]) -> None:
    await client.store.put_item(ns, "cat", {"text": "a cat sat on the mat", "n": 1})
    await client.store.put_item(ns, "dog", {"text": "the dog chased another dog", "n": 2})
    await client.store.put_item(ns, "fish", {"text": "fish swim, a bird flies", "n": 3})


async def test_semantic_search_orders_by_similarity(index_client: LangGraphClient) -> None:
    ns = [new_root(), "animals"]
    await _put_animals(index_client, ns)
    for query, best in (("dog", "dog"), ("a cat", "cat"), ("fish", "fish")):
        found = (await index_client.store.search_items(ns, query=query))["items"]
        assert found[0]["key"] == best, (query, found)
        scores = [i["score"] for i in found]
        floats = [score for score in scores if isinstance(score, float)]
        assert floats == scores
        assert floats == sorted(floats, reverse=True)
    filtered = (await index_client.store.search_items(ns, query="dog", filter={"n": 3}))["items"]
    assert [i["key"] for i in filtered] == ["fish"]
    listing = (await index_client.store.search_items(ns))["items"]
    assert [i["key"] for i in listing] == ["fish", "dog", "cat"]
    assert all(i["score"] is None for i in listing)


async def test_graph_node_searches_the_same_index(index_client: LangGraphClient) -> None:
    ns = [new_root(), "animals"]
    await _put_animals(index_client, ns)
    thread = await index_client.threads.create()
    payload: dict[str, Any] = {"namespace": ns, "query": "cat"}
    out = await index_client.runs.wait(thread["thread_id"], "memory", input=payload)
    assert isinstance(out, dict)
    assert out["search_keys"][0] == "cat"
    assert sorted(out["search_keys"]) == ["cat", "dog", "fish"]


async def test_default_ttl_applies_unless_ttl_is_given(
    index_client: LangGraphClient, index_stack: Stack
) -> None:
    ns = [new_root(), "ttl"]
    await index_client.store.put_item(ns, "default", {"text": "cat"})
    async with httpx.AsyncClient(base_url=index_stack.url) as http:
        response = await http.put(
            "/store/items", json={"namespace": ns, "key": "forever", "value": {}, "ttl": None}
        )
    assert response.status_code == 204
    expires = await expires_at(index_stack.database_url, ns, "default")
    assert expires is not None  # store.ttl.default_ttl is 60 minutes
    remaining = (expires - datetime.now(expires.tzinfo)).total_seconds()
    assert 55 * 60 < remaining <= 60 * 60
    assert await expires_at(index_stack.database_url, ns, "forever") is None
