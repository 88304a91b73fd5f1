"""The Store API end to end, with the official `langgraph-sdk` client against real processes, on the
session stack (tests/app/langgraph.json: `store.ttl` with a fast sweeper). Semantic search is in
test_store_index.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from contracts.runtime import DEFAULT_DEPLOYMENT_ID
from tests.e2e.stack import Stack

ITEM_FIELDS = {"namespace", "key", "value", "created_at", "updated_at"}


def stored_prefix(namespace: list[str]) -> str:
    """The `prefix` column of a default-deployment item: its namespace under the deployment's label."""
    return ".".join([f"deployment-{DEFAULT_DEPLOYMENT_ID}", *namespace])


def new_root() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def expires_at(dsn: str, namespace: list[str], key: str) -> datetime | None:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT expires_at FROM store WHERE prefix = $1 AND key = $2", stored_prefix(namespace), key
        )
    finally:
        await conn.close()
    assert row is not None, f"no row for {namespace}/{key}"
    expires: datetime | None = row["expires_at"]
    return expires


async def _rows(dsn: str, namespace: list[str]) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM store WHERE prefix = $1", stored_prefix(namespace)
        )
    finally:
        await conn.close()
    return count


async def test_put_get_update_delete_with_official_shapes(client: LangGraphClient) -> None:
    ns = [new_root(), "users", "u1"]
    await client.store.put_item(ns, "prefs", {"theme": "dark"})
    item: dict[str, Any] = dict(
        await client.store.get_item(ns, "prefs")
    )  # the SDK types timestamps as datetime
    assert set(item) == ITEM_FIELDS
    assert (item["namespace"], item["key"], item["value"]) == (ns, "prefs", {"theme": "dark"})
    assert item["created_at"].endswith("+00:00")
    created = datetime.fromisoformat(item["created_at"])

    await client.store.put_item(ns, "prefs", {"theme": "light", "size": 2})
    updated: dict[str, Any] = dict(await client.store.get_item(ns, "prefs"))
    assert updated["value"] == {"theme": "light", "size": 2}
    assert datetime.fromisoformat(updated["created_at"]) == created
    assert datetime.fromisoformat(updated["updated_at"]) > created

    await client.store.delete_item(ns, "prefs")
    assert await client.store.get_item(ns, "prefs") is None
    await client.store.delete_item(ns, "prefs")  # deleting a missing item is fine


async def test_status_codes_and_bodies_on_the_wire(stack: Stack) -> None:
    ns = [new_root(), "wire"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        put = await http.put("/store/items", json={"namespace": ns, "key": "k", "value": {"a": 1}})
        assert (put.status_code, put.content) == (204, b"")
        got = await http.get("/store/items", params={"namespace": ".".join(ns), "key": "k"})
        assert got.status_code == 200
        assert got.json()["value"] == {"a": 1}
        missing = await http.get("/store/items", params={"namespace": ".".join(ns), "key": "nope"})
        assert (missing.status_code, missing.json()) == (200, None)
        no_key = await http.get("/store/items", params={"namespace": ".".join(ns)})
        assert (no_key.status_code, no_key.json()) == (400, {"detail": "Key is required"})
        search = await http.post("/store/items/search", json={"namespace_prefix": ns})
        assert search.status_code == 200
        [found] = search.json()["items"]
        assert set(found) == ITEM_FIELDS | {"score"}
        assert found["score"] is None
        spaces = await http.post("/store/namespaces", json={"prefix": ns})
        assert (spaces.status_code, spaces.json()) == (200, {"namespaces": [ns]})
        deleted = await http.request("DELETE", "/store/items", json={"namespace": ns, "key": "k"})
        assert (deleted.status_code, deleted.content) == (204, b"")


async def test_search_filters_orders_newest_first_and_pages(client: LangGraphClient) -> None:
    root = new_root()
    for n in range(5):
        kind = "even" if n % 2 == 0 else "odd"
        await client.store.put_item([root, "docs"], f"d{n}", {"n": n, "kind": kind, "tags": {"k": kind}})
    await client.store.put_item([root, "other"], "o", {"n": 9, "kind": "even"})

    newest_first = await client.store.search_items([root, "docs"])
    assert [i["key"] for i in newest_first["items"]] == ["d4", "d3", "d2", "d1", "d0"]
    page = await client.store.search_items([root, "docs"], limit=2, offset=1)
    assert [i["key"] for i in page["items"]] == ["d3", "d2"]
    evens = await client.store.search_items([root, "docs"], filter={"kind": "even"})
    assert [i["key"] for i in evens["items"]] == ["d4", "d2", "d0"]
    odd = await client.store.search_items([root], filter={"kind": {"$ne": "even"}})
    assert [i["key"] for i in odd["items"]] == ["d3", "d1"]
    nested = await client.store.search_items([root], filter={"tags": {"$eq": {"k": "odd"}}}, limit=1)
    assert [i["key"] for i in nested["items"]] == ["d3"]
    everything = await client.store.search_items([root], limit=100)
    assert {i["key"] for i in everything["items"]} == {"o", "d0", "d1", "d2", "d3", "d4"}
    assert all(i["score"] is None for i in everything["items"])


async def test_list_namespaces_with_prefix_suffix_depth_and_pages(client: LangGraphClient) -> None:
    root = new_root()
    for ns in ([root, "a", "x"], [root, "a", "y"], [root, "b", "x"], [root, "b", "x", "deep"]):
        await client.store.put_item(ns, "k", {"v": 1})

    listed = await client.store.list_namespaces(prefix=[root])
    assert listed["namespaces"] == [
        [root, "a", "x"],
        [root, "a", "y"],
        [root, "b", "x"],
        [root, "b", "x", "deep"],
    ]
    by_suffix = await client.store.list_namespaces(prefix=[root], suffix=["x"])
    assert by_suffix["namespaces"] == [[root, "a", "x"], [root, "b", "x"]]
    shallow = await client.store.list_namespaces(prefix=[root], max_depth=2)
    assert shallow["namespaces"] == [[root, "a"], [root, "b"]]
    page = await client.store.list_namespaces(prefix=[root], limit=2, offset=1)
    assert page["namespaces"] == [[root, "a", "y"], [root, "b", "x"]]
    wildcard = await client.store.list_namespaces(prefix=[root, "*", "x"])
    assert wildcard["namespaces"] == [[root, "a", "x"], [root, "b", "x"], [root, "b", "x", "deep"]]


async def test_ttl_expires_items_and_the_sweeper_deletes_them(client: LangGraphClient, stack: Stack) -> None:
    ns = [new_root(), "ttl"]
    await client.store.put_item(ns, "short", {"v": 1}, ttl=0.01)  # type: ignore[arg-type]  # minutes: 0.6 s; the SDK types ttl as int
    await client.store.put_item(ns, "kept", {"v": 2})
    assert await expires_at(stack.database_url, ns, "kept") is None
    deadline = time.monotonic() + 10
    while await client.store.get_item(ns, "short", refresh_ttl=False) is not None:
        assert time.monotonic() < deadline, "an expired item is still answered"
        await asyncio.sleep(0.1)
    listed = await client.store.search_items(ns)
    assert [i["key"] for i in listed["items"]] == ["kept"]
    # tests/app/langgraph.json sweeps every 0.02 min (1.2 s): the row itself goes away
    while await _rows(stack.database_url, ns) != 1:
        assert time.monotonic() < deadline + 10, "the TTL sweeper never deleted the expired item"
        await asyncio.sleep(0.2)
    assert (await client.store.get_item(ns, "kept"))["value"] == {"v": 2}


async def test_reads_refresh_ttl_unless_told_not_to(client: LangGraphClient, stack: Stack) -> None:
    ns = [new_root(), "refresh"]
    await client.store.put_item(ns, "k", {"v": 1}, ttl=10)
    first = await expires_at(stack.database_url, ns, "k")
    assert first is not None
    await asyncio.sleep(0.05)
    await client.store.get_item(ns, "k", refresh_ttl=False)
    await client.store.search_items(ns, refresh_ttl=False)
    assert await expires_at(stack.database_url, ns, "k") == first
    await client.store.get_item(ns, "k")  # store.ttl.refresh_on_read is true
    after_get = await expires_at(stack.database_url, ns, "k")
    assert after_get is not None
    assert after_get > first
    await asyncio.sleep(0.05)
    await client.store.search_items(ns, refresh_ttl=True)
    after_search = await expires_at(stack.database_url, ns, "k")
    assert after_search is not None
    assert after_search > after_get


async def test_graph_nodes_and_the_api_share_one_store(client: LangGraphClient) -> None:
    ns = [new_root(), "shared"]
    await client.store.put_item(ns, "from-api", {"said": "hello from the API"})
    thread = await client.threads.create()
    payload: dict[str, Any] = {
        "namespace": ns,
        "key": "from-graph",
        "value": {"said": "hi"},
        "read_key": "from-api",
    }
    out = await client.runs.wait(thread["thread_id"], "memory", input=payload)
    assert isinstance(out, dict)
    assert out["found"] == {"said": "hello from the API"}
    written = await client.store.get_item(ns, "from-graph")
    assert written["value"] == {"said": "hi"}
    assert written["namespace"] == ns


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/store/items", {"namespace": ["a.b"], "key": "k", "value": {}}, "namespace"),
        ("PUT", "/store/items", {"namespace": ["a", ""], "key": "k", "value": {}}, "namespace"),
        ("PUT", "/store/items", {"namespace": [], "key": "k", "value": {}}, "namespace"),
        ("PUT", "/store/items", {"namespace": ["langgraph"], "key": "k", "value": {}}, "namespace"),
        ("PUT", "/store/items", {"namespace": [1], "key": "k", "value": {}}, "namespace"),
        ("PUT", "/store/items", {"namespace": ["a"], "key": 5, "value": {}}, "key"),
        ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": "text"}, "value"),
        ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": "5"}, "ttl"),
        ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "index": True}, "index"),
        ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "color": "red"}, "color"),
        ("PUT", "/store/items", {"key": "k", "value": {}}, "namespace"),
        ("DELETE", "/store/items", {"namespace": [], "key": "k"}, "namespace"),
        ("DELETE", "/store/items", {"namespace": ["a.b"], "key": "k"}, "namespace"),
        ("POST", "/store/items/search", {"namespace_prefix": ["a.b"]}, "namespace_prefix"),
        ("POST", "/store/items/search", {"limit": "ten"}, "limit"),
        ("POST", "/store/items/search", {"offset": -1}, "offset"),
        ("POST", "/store/items/search", {"filter": ["x"]}, "filter"),
        ("POST", "/store/items/search", {"filter": {"n": {"$near": 1}}}, "$near"),
        ("POST", "/store/namespaces", {"prefix": ["a."]}, "prefix"),
        ("POST", "/store/namespaces", {"suffix": [""]}, "suffix"),
        ("POST", "/store/namespaces", {"max_depth": 0}, "max_depth"),
        ("POST", "/store/namespaces", {"depth": 2}, "depth"),
    ],
)
async def test_invalid_requests_are_422_naming_the_field(
    stack: Stack, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"namespace": "a..b", "key": "k"}, "namespace"),
        ({"key": "k"}, "namespace"),
        ({"namespace": "a", "key": "k", "refresh_ttl": "maybe"}, "refresh_ttl"),
        ({"namespace": "a", "key": "k", "limit": "1"}, "limit"),
    ],
)
async def test_invalid_get_parameters_are_422_naming_them(
    stack: Stack, params: dict[str, str], field: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.get("/store/items", params=params)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
