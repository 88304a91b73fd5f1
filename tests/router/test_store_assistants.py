"""router.store.assistants against a freshly migrated Postgres database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts.ids import system_assistant_id
from router.store import assistants as store
from router.store.pool import Pool, open_pool

GRAPHS = ["agent", "hitl"]


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[Pool]:
    async with open_pool(pg_dsn, min_size=1, max_size=8, command_timeout=10) as pool:
        yield pool


async def _create(
    pool: Pool, *, graph_id: str = "agent", name: str = "a", metadata: dict[str, Any] | None = None
) -> str:
    assistant_id = str(uuid.uuid4())
    created = await store.insert(
        pool,
        assistant_id=assistant_id,
        graph_id=graph_id,
        config={},
        context={},
        metadata=metadata or {},
        name=name,
        description=None,
    )
    assert created is not None
    return assistant_id


async def test_system_assistants_are_inserted_once_under_concurrency(pool: Pool) -> None:
    pairs = [(system_assistant_id(g), g) for g in GRAPHS]
    inserted = await asyncio.gather(*(store.insert_system(pool, pairs) for _ in range(4)))
    assert sorted(inserted) == [0, 0, 0, 2]
    agent = await store.get(pool, system_assistant_id("agent"), graph_ids=GRAPHS)
    assert agent is not None
    assert agent["assistant_id"] == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert (agent["name"], agent["metadata"], agent["version"]) == ("agent", {"created_by": "system"}, 1)
    assert agent["description"] is None
    versions = await store.list_versions(pool, agent["assistant_id"], metadata=None, limit=10, offset=0)
    assert [v["version"] for v in versions] == [1]


async def test_insert_writes_version_one_and_refuses_an_existing_id(pool: Pool) -> None:
    assistant_id = await _create(pool, metadata={"owner": "me"})
    again = await store.insert(
        pool,
        assistant_id=assistant_id,
        graph_id="hitl",
        config={},
        context={},
        metadata={},
        name="b",
        description="d",
    )
    assert again is None
    got = await store.get(pool, assistant_id, graph_ids=GRAPHS)
    assert got is not None
    assert (got["graph_id"], got["name"], got["metadata"]) == ("agent", "a", {"owner": "me"})
    assert got["created_at"] == got["updated_at"]
    assert got["created_at"].endswith("+00:00")
    versions = await store.list_versions(pool, assistant_id, metadata=None, limit=10, offset=0)
    assert len(versions) == 1
    assert versions[0]["created_at"] == got["created_at"]
    assert "updated_at" not in versions[0]


async def test_get_hides_assistants_of_graphs_not_served(pool: Pool) -> None:
    assistant_id = await _create(pool, graph_id="retired")
    assert await store.get(pool, assistant_id, graph_ids=GRAPHS) is None
    assert await store.get(pool, assistant_id, graph_ids=["retired"]) is not None
    assert await store.exists(pool, assistant_id)


async def test_update_writes_the_next_version_and_merges_metadata(pool: Pool) -> None:
    assistant_id = await _create(pool, metadata={"owner": "me", "v": 1})
    updated = await store.update(
        pool,
        assistant_id,
        graph_id=None,
        config=None,
        context={"model": "x"},
        metadata={"v": 2},
        name=None,
        description="new",
    )
    assert updated is not None
    assert updated["version"] == 2
    assert updated["metadata"] == {"owner": "me", "v": 2}
    assert (updated["name"], updated["description"], updated["context"]) == ("a", "new", {"model": "x"})
    assert updated["updated_at"] > updated["created_at"]
    versions = await store.list_versions(pool, assistant_id, metadata=None, limit=10, offset=0)
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["created_at"] == updated["updated_at"]
    assert versions[1]["metadata"] == {"owner": "me", "v": 1}


async def test_concurrent_updates_get_distinct_versions(pool: Pool) -> None:
    assistant_id = await _create(pool)
    results = await asyncio.gather(
        *(
            store.update(
                pool,
                assistant_id,
                graph_id=None,
                config=None,
                context=None,
                metadata={f"k{i}": i},
                name=None,
                description=None,
            )
            for i in range(6)
        )
    )
    assert sorted(r["version"] for r in results if r is not None) == [2, 3, 4, 5, 6, 7]
    final = await store.get(pool, assistant_id, graph_ids=GRAPHS)
    assert final is not None
    assert final["version"] == 7
    assert final["metadata"] == {f"k{i}": i for i in range(6)}


async def test_update_of_a_missing_assistant_is_none(pool: Pool) -> None:
    missing = await store.update(
        pool,
        str(uuid.uuid4()),
        graph_id=None,
        config=None,
        context=None,
        metadata=None,
        name="x",
        description=None,
    )
    assert missing is None


async def test_set_latest_restores_a_stored_version(pool: Pool) -> None:
    assistant_id = await _create(pool, name="first", metadata={"v": 1})
    await store.update(
        pool,
        assistant_id,
        graph_id="hitl",
        config={"tags": ["t"]},
        context={"c": 1},
        metadata={"v": 2},
        name="second",
        description="d",
    )
    back = await store.set_latest(pool, assistant_id, 1)
    assert back is not None
    assert (back["version"], back["name"], back["graph_id"]) == (1, "first", "agent")
    assert (back["config"], back["context"], back["metadata"], back["description"]) == (
        {},
        {},
        {"v": 1},
        None,
    )
    assert await store.set_latest(pool, assistant_id, 9) is None
    # switching back does not add a version
    versions = await store.list_versions(pool, assistant_id, metadata=None, limit=10, offset=0)
    assert [v["version"] for v in versions] == [2, 1]


async def test_versions_filter_by_metadata_and_page(pool: Pool) -> None:
    assistant_id = await _create(pool, metadata={"tier": "a"})
    for tier in ("b", "a", "b"):
        await store.update(
            pool,
            assistant_id,
            graph_id=None,
            config=None,
            context=None,
            metadata={"tier": tier},
            name=None,
            description=None,
        )
    tier_b = await store.list_versions(pool, assistant_id, metadata={"tier": "b"}, limit=10, offset=0)
    assert [v["version"] for v in tier_b] == [4, 2]
    page = await store.list_versions(pool, assistant_id, metadata=None, limit=2, offset=1)
    assert [v["version"] for v in page] == [3, 2]


async def test_delete_removes_the_assistant_and_its_versions(pool: Pool) -> None:
    assistant_id = await _create(pool)
    assert await store.delete(pool, assistant_id)
    assert not await store.delete(pool, assistant_id)
    assert not await store.exists(pool, assistant_id)
    assert await store.list_versions(pool, assistant_id, metadata=None, limit=10, offset=0) == []


async def test_search_filters_sorts_and_pages(pool: Pool) -> None:
    made: list[tuple[str, str, dict[str, Any]]] = [
        ("Bravo", "agent", {"team": "x", "n": 1}),
        ("alpha", "agent", {"team": "y"}),
        ("Charlie", "hitl", {"team": "x", "n": 2}),
        ("hidden", "retired", {"team": "x"}),
    ]
    ids = {name: await _create(pool, graph_id=graph, name=name, metadata=meta) for name, graph, meta in made}

    async def names(**kwargs: Any) -> list[str]:
        params: dict[str, Any] = {
            "graph_ids": GRAPHS,
            "graph_id": None,
            "name": None,
            "metadata": None,
            "sort_by": "name",
            "sort_order": "asc",
            "limit": 10,
            "offset": 0,
        }
        params.update(kwargs)
        return [a["name"] for a in await store.search(pool, **params)]

    assert await names() == ["alpha", "Bravo", "Charlie"]
    assert await names(sort_order="desc") == ["Charlie", "Bravo", "alpha"]
    assert await names(graph_id="agent") == ["alpha", "Bravo"]
    assert await names(name="AR") == ["Charlie"]
    assert await names(metadata={"team": "x"}) == ["Bravo", "Charlie"]
    assert await names(limit=1, offset=1) == ["Bravo"]
    assert await names(sort_by="created_at", sort_order="desc") == ["Charlie", "alpha", "Bravo"]
    assert await names(sort_by="assistant_id") == sorted(
        ["alpha", "Bravo", "Charlie"], key=lambda n: uuid.UUID(ids[n])
    )
    counted = await store.count(pool, graph_ids=GRAPHS, graph_id=None, name=None, metadata={"team": "x"})
    assert counted == 2
    assert await store.count(pool, graph_ids=GRAPHS, graph_id="hitl", name="char", metadata=None) == 1


async def test_search_refuses_an_unknown_sort_column(pool: Pool) -> None:
    with pytest.raises(ValueError, match="cannot sort"):
        await store.search(
            pool,
            graph_ids=GRAPHS,
            graph_id=None,
            name=None,
            metadata=None,
            sort_by="metadata",
            sort_order="asc",
            limit=1,
            offset=0,
        )
