"""The function service's side of the Store API: the store's settings from langgraph.json (TTL,
the embedding function loaded from a file), STORE_REQUESTED events over ASGI, the 422 FAILED replies
for operations the store refuses, and the TTL sweeper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from langchain_core.embeddings import Embeddings
from pydantic import ValidationError

from contracts import runtime as rt
from contracts.app_config import AppConfig, StoreConfig, StoreIndexConfig, StoreTtlConfig
from functions import checkpoints
from functions.errors import StoreConfigError
from functions.store import store_options
from tests.functions.conftest import CONFIG_PATH, function_client
from tests.functions.test_app import send

E2E_APP = Path(__file__).parents[1] / "app"


@pytest.fixture
async def client(pg_dsn: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with function_client(pg_dsn, redis_url, CONFIG_PATH) as client:
        yield client


async def call(
    client: httpx.AsyncClient, operation: rt.StoreOperation
) -> tuple[int, rt.StoreResult | rt.Failure]:
    response, reply = await send(client, rt.STORE_REQUESTED, rt.StoreRequest(operation=operation))
    if reply.get_type() == rt.FAILED:
        return response.status_code, rt.Failure.model_validate(reply.get_data())
    assert reply.get_type() == rt.STORE_RESULT
    return response.status_code, rt.StoreResult.model_validate(reply.get_data())


def test_without_a_store_section_expired_items_are_omitted_and_nothing_is_indexed() -> None:
    options = store_options(StoreConfig(), E2E_APP)
    assert options.index is None
    assert options.ttl == {"refresh_on_read": True, "omit_expired": True}
    assert options.sweep_interval_minutes is None


def test_ttl_and_index_sections_become_the_store_settings() -> None:
    config = StoreConfig(
        ttl=StoreTtlConfig(refresh_on_read=False, default_ttl=5, sweep_interval_minutes=0.5),
        index=StoreIndexConfig(dims=4, embed="./memory.py:embed", fields=["text"]),
    )
    options = store_options(config, E2E_APP)
    assert options.ttl == {"refresh_on_read": False, "omit_expired": True, "default_ttl": 5}
    assert options.sweep_interval_minutes == 0.5
    assert options.index is not None
    assert (options.index["dims"], options.index.get("fields")) == (4, ["text"])
    embeddings = options.index["embed"]
    assert isinstance(embeddings, Embeddings)
    assert embeddings.embed_query("dog") == pytest.approx([0.0475, 0.9966, 0.0475, 0.0475], abs=1e-3)


@pytest.mark.parametrize(
    ("embed", "says"),
    [
        ("./missing.py:embed", "no file"),
        ("./memory.py:nothing", "has no variable 'nothing'"),
        ("./memory.py:VOCABULARY", "tuple, not a function"),
        ("openai:text-embedding-3-small", "langchain"),
    ],
)
def test_an_embedding_function_that_cannot_load_is_a_config_error(embed: str, says: str) -> None:
    config = StoreConfig(index=StoreIndexConfig(dims=4, embed=embed))
    with pytest.raises(StoreConfigError, match=r"store\.index\.embed") as caught:
        store_options(config, E2E_APP)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    "store",
    [
        {"ttl": {"sweep_every": 1}},
        {"index": {"dims": 4}},
        {"index": {"dims": 0, "embed": "./memory.py:embed"}},
        {"ttl": {"default_ttl": -1}},
        {"vectors": True},
    ],
)
def test_the_store_section_refuses_what_it_does_not_know(store: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="store"):
        AppConfig.model_validate({"graphs": {"g": "./g.py:graph"}, "store": store})


async def test_store_events_put_get_search_list_and_delete(client: httpx.AsyncClient) -> None:
    ns = ["users", "u1"]
    status, put = await call(client, rt.StorePut(namespace=ns, key="k", value={"a": 1}))
    assert (status, put) == (200, rt.StoreResult(op="put"))
    _, got = await call(client, rt.StoreGet(namespace=ns, key="k"))
    assert isinstance(got, rt.StoreResult)
    assert got.item is not None
    assert (got.item.namespace, got.item.key, got.item.value) == (ns, "k", {"a": 1})
    assert got.item.created_at.endswith("+00:00")
    _, found = await call(client, rt.StoreSearch(namespace_prefix=["users"], filter={"a": 1}))
    assert isinstance(found, rt.StoreResult)
    assert [(i.key, i.score) for i in found.items] == [("k", None)]
    _, listed = await call(client, rt.StoreListNamespaces(prefix=["users"], max_depth=1))
    assert isinstance(listed, rt.StoreResult)
    assert listed.namespaces == [["users"]]
    await call(client, rt.StoreDelete(namespace=ns, key="k"))
    _, gone = await call(client, rt.StoreGet(namespace=ns, key="k"))
    assert gone == rt.StoreResult(op="get", item=None)


@pytest.mark.parametrize(
    ("operation", "says"),
    [
        (rt.StorePut(namespace=["langgraph", "x"], key="k", value={}), 'cannot be "langgraph"'),
        (rt.StorePut(namespace=["a.b"], key="k", value={}), "cannot contain periods"),
        (rt.StoreSearch(filter={"n": {"$near": 1}}), "Unsupported operator: $near"),
    ],
)
async def test_operations_the_store_refuses_are_failed_422(
    client: httpx.AsyncClient, operation: rt.StoreOperation, says: str
) -> None:
    status, failure = await call(client, operation)
    assert status == 422
    assert isinstance(failure, rt.Failure)
    assert failure.error == "StoreRequestError"
    assert says in failure.message


async def test_the_ttl_sweeper_deletes_expired_rows(pg_dsn: str) -> None:
    options = store_options(StoreConfig(ttl=StoreTtlConfig(sweep_interval_minutes=0.005)), E2E_APP)
    async with checkpoints.open_persistence(
        pg_dsn, max_size=2, ttl=options.ttl, sweep_interval_minutes=options.sweep_interval_minutes
    ) as db:
        await db.store.aput(("sweep",), "short", {"v": 1}, ttl=0.001)
        await db.store.aput(("sweep",), "kept", {"v": 2})
        deadline = time.monotonic() + 10
        while True:
            async with db.pool.connection() as conn:
                rows = await (await conn.execute("SELECT key FROM store WHERE prefix = 'sweep'")).fetchall()
            if [row["key"] for row in rows] == ["kept"]:
                break
            assert time.monotonic() < deadline, f"the sweeper left {rows}"
            await asyncio.sleep(0.1)
