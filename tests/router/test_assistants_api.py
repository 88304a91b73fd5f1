"""The assistant endpoints over HTTP (ASGI), on real Postgres and Redis.

Graph information comes from a real function service (functions.app under uvicorn) serving the
end-to-end test app's graphs; the other endpoints run with no function service at all.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from contracts.ids import system_assistant_id
from router import errors as router_errors
from router.services import assistants as assistants_service
from tests.router.conftest import GRAPH_IDS, Env

AGENT_ID = system_assistant_id("agent")


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/assistants", json={"graph_id": "agent", **body})
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_system_assistants_exist_once_per_graph(env: Env) -> None:
    await assistants_service.ensure_system_assistants(env.services)
    response = await env.client.post(
        "/assistants/search", json={"metadata": {"created_by": "system"}, "limit": 100}
    )
    assert response.status_code == 200
    found = {a["graph_id"]: a for a in response.json()}
    assert sorted(found) == sorted(GRAPH_IDS)
    agent = found["agent"]
    assert agent["assistant_id"] == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert list(agent) == [
        "assistant_id",
        "graph_id",
        "config",
        "context",
        "metadata",
        "name",
        "created_at",
        "updated_at",
        "version",
        "description",
    ]
    assert (agent["name"], agent["version"], agent["config"], agent["context"]) == ("agent", 1, {}, {})


async def test_create_get_and_official_shape(env: Env) -> None:
    created = await _create(env.client, metadata={"owner": "peer"}, name="custom-agent")
    assert uuid.UUID(created["assistant_id"]).version == 4
    assert created["metadata"] == {"owner": "peer"}
    assert (created["version"], created["description"], created["config"], created["context"]) == (
        1,
        None,
        {},
        {},
    )
    assert created["created_at"] == created["updated_at"]
    got = await env.client.get(f"/assistants/{created['assistant_id']}")
    assert got.status_code == 200
    assert got.json() == created
    assert got.headers["content-type"] == "application/json"


async def test_create_defaults_and_mirrors_context_into_configurable(env: Env) -> None:
    created = await _create(env.client, context={"model": "m"})
    assert created["name"] == "Untitled"
    assert created["context"] == {"model": "m"}
    assert created["config"] == {"configurable": {"model": "m"}}
    from_config = await _create(env.client, config={"configurable": {"k": 1}, "tags": ["t"]})
    assert from_config["context"] == {"k": 1}
    both = await env.client.post(
        "/assistants", json={"graph_id": "agent", "config": {"configurable": {"k": 1}}, "context": {"k": 2}}
    )
    assert both.status_code == 400
    assert both.json()["detail"].startswith("Cannot specify both configurable and context.")


async def test_create_with_existing_id_raises_or_returns_existing(env: Env) -> None:
    assistant_id = str(uuid.uuid4())
    first = await _create(env.client, assistant_id=assistant_id.upper(), name="one")
    assert first["assistant_id"] == assistant_id
    again = await env.client.post("/assistants", json={"graph_id": "hitl", "assistant_id": assistant_id})
    assert again.status_code == 409
    assert again.json() == {"detail": f"Assistant {assistant_id} already exists"}
    same = await _create(env.client, assistant_id=assistant_id, name="two", if_exists="do_nothing")
    assert same == first


async def test_create_refuses_bad_ids_graphs_and_fields(env: Env) -> None:
    bad_id = await env.client.post("/assistants", json={"graph_id": "agent", "assistant_id": "nope"})
    assert (bad_id.status_code, bad_id.json()) == (422, {"detail": "Invalid assistant ID: must be a UUID"})
    bad_graph = await env.client.post("/assistants", json={"graph_id": "missing"})
    assert bad_graph.status_code == 404
    assert bad_graph.json()["detail"] == f"Graph 'missing' not found. Expected one of: {sorted(GRAPH_IDS)}"
    unknown = await env.client.post("/assistants", json={"graph_id": "agent", "colour": "red"})
    assert unknown.status_code == 422
    assert "colour" in unknown.json()["detail"]
    no_graph = await env.client.post("/assistants", json={})
    assert no_graph.status_code == 422
    assert "graph_id" in no_graph.json()["detail"]
    bad_if_exists = await env.client.post("/assistants", json={"graph_id": "agent", "if_exists": "replace"})
    assert bad_if_exists.status_code == 422


async def test_get_missing_or_malformed(env: Env) -> None:
    missing = str(uuid.uuid4())
    response = await env.client.get(f"/assistants/{missing}")
    assert (response.status_code, response.json()) == (404, {"detail": f"Assistant {missing} not found"})
    malformed = await env.client.get("/assistants/agent")
    assert (malformed.status_code, malformed.json()) == (
        422,
        {"detail": "Invalid assistant ID: must be a UUID"},
    )


async def test_patch_creates_versions_and_latest_switches_back(env: Env) -> None:
    created = await _create(env.client, metadata={"owner": "peer"}, name="custom-agent")
    aid = created["assistant_id"]
    patched = await env.client.patch(f"/assistants/{aid}", json={"metadata": {"v": 2}, "description": "d"})
    assert patched.status_code == 200
    v2 = patched.json()
    assert (v2["version"], v2["metadata"], v2["description"], v2["name"]) == (
        2,
        {"owner": "peer", "v": 2},
        "d",
        "custom-agent",
    )
    assert v2["created_at"] == created["created_at"]
    assert v2["updated_at"] > created["updated_at"]
    v3 = (await env.client.patch(f"/assistants/{aid}", json={"graph_id": "hitl", "name": "renamed"})).json()
    assert (v3["version"], v3["graph_id"], v3["name"]) == (3, "hitl", "renamed")

    versions = await env.client.post(f"/assistants/{aid}/versions", json={})
    assert versions.status_code == 200
    listed = versions.json()
    assert [v["version"] for v in listed] == [3, 2, 1]
    assert all("updated_at" not in v for v in listed)
    assert list(listed[2]) == [
        "assistant_id",
        "version",
        "graph_id",
        "config",
        "context",
        "metadata",
        "created_at",
        "name",
        "description",
    ]
    assert listed[0]["created_at"] == v3["updated_at"]
    filtered = await env.client.post(f"/assistants/{aid}/versions", json={"metadata": {"v": 2}, "limit": 1})
    assert [v["version"] for v in filtered.json()] == [3]

    latest = await env.client.post(f"/assistants/{aid}/latest", json={"version": 1})
    assert latest.status_code == 200
    back = latest.json()
    assert (back["version"], back["graph_id"], back["name"], back["metadata"]) == (
        1,
        "agent",
        "custom-agent",
        {"owner": "peer"},
    )
    by_query = await env.client.post(f"/assistants/{aid}/latest?version=2")
    assert by_query.json()["version"] == 2
    assert (await env.client.get(f"/assistants/{aid}")).json()["version"] == 2
    missing_version = await env.client.post(f"/assistants/{aid}/latest", json={"version": 7})
    assert (missing_version.status_code, missing_version.json()) == (
        404,
        {"detail": f"Version 7 not found for assistant {aid}"},
    )
    no_version = await env.client.post(f"/assistants/{aid}/latest")
    assert no_version.status_code == 422


async def test_patch_and_versions_of_a_missing_assistant(env: Env) -> None:
    missing = str(uuid.uuid4())
    patched = await env.client.patch(f"/assistants/{missing}", json={"name": "x"})
    assert (patched.status_code, patched.json()) == (404, {"detail": f"Assistant {missing} not found"})
    versions = await env.client.post(f"/assistants/{missing}/versions", json={})
    assert (versions.status_code, versions.json()) == (404, {"detail": f"Assistant {missing} not found"})
    latest = await env.client.post(f"/assistants/{missing}/latest", json={"version": 1})
    assert (latest.status_code, latest.json()) == (404, {"detail": f"Assistant {missing} not found"})
    bad_graph = await env.client.patch(f"/assistants/{AGENT_ID}", json={"graph_id": "missing"})
    assert bad_graph.status_code == 404
    unknown_field = await env.client.patch(f"/assistants/{AGENT_ID}", json={"if_exists": "raise"})
    assert unknown_field.status_code == 422


async def test_delete_is_204_then_404(env: Env) -> None:
    aid = (await _create(env.client))["assistant_id"]
    deleted = await env.client.delete(f"/assistants/{aid}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await env.client.get(f"/assistants/{aid}")).status_code == 404
    again = await env.client.delete(f"/assistants/{aid}")
    assert (again.status_code, again.json()) == (404, {"detail": f"Assistant with ID {aid} not found"})
    assert (
        await env.services.pool.fetchval(
            "SELECT count(*) FROM assistant_versions WHERE assistant_id = $1", aid
        )
        == 0
    )


async def test_delete_with_threads_removes_only_that_assistants_threads(env: Env) -> None:
    aid = (await _create(env.client))["assistant_id"]
    mine = (await env.client.post("/threads", json={"metadata": {"assistant_id": aid}})).json()["thread_id"]
    other = (await env.client.post("/threads", json={"metadata": {"assistant_id": AGENT_ID}})).json()[
        "thread_id"
    ]
    deleted = await env.client.delete(f"/assistants/{aid}", params={"delete_threads": True})
    assert deleted.status_code == 204
    assert (await env.client.get(f"/threads/{mine}")).status_code == 404
    assert (await env.client.get(f"/threads/{other}")).status_code == 200
    missing = str(uuid.uuid4())
    refused = await env.client.delete(f"/assistants/{missing}", params={"delete_threads": True})
    assert (refused.status_code, refused.json()) == (
        404,
        {"detail": f"Assistant with ID {missing} not found"},
    )


async def test_search_pagination_headers_sorting_and_filters(env: Env) -> None:
    for name in ("b-two", "A-one", "c-three"):
        await _create(env.client, name=name, metadata={"group": "g"})
    first = await env.client.post(
        "/assistants/search",
        json={"metadata": {"group": "g"}, "limit": 2, "sort_by": "name", "sort_order": "asc"},
    )
    assert first.status_code == 200
    assert [a["name"] for a in first.json()] == ["A-one", "b-two"]
    assert (first.headers["x-pagination-total"], first.headers["x-pagination-next"]) == ("3", "2")
    last = await env.client.post(
        "/assistants/search",
        json={"metadata": {"group": "g"}, "limit": 2, "offset": 2, "sort_by": "name", "sort_order": "asc"},
    )
    assert [a["name"] for a in last.json()] == ["c-three"]
    assert last.headers["x-pagination-total"] == "3"
    assert "x-pagination-next" not in last.headers

    newest = await env.client.post("/assistants/search", json={"metadata": {"group": "g"}})
    assert [a["name"] for a in newest.json()] == ["c-three", "A-one", "b-two"]
    by_name = await env.client.post("/assistants/search", json={"name": "ONE"})
    assert [a["name"] for a in by_name.json()] == ["A-one"]
    by_graph = await env.client.post("/assistants/search", json={"graph_id": "hitl"})
    assert [a["assistant_id"] for a in by_graph.json()] == [system_assistant_id("hitl")]
    selected = await env.client.post(
        "/assistants/search", json={"graph_id": "hitl", "select": ["name", "version"]}
    )
    assert selected.json() == [{"name": "hitl", "version": 1}]
    no_body = await env.client.post("/assistants/search")
    assert no_body.status_code == 200
    everything = len(GRAPH_IDS) + 3
    assert len(no_body.json()) == min(everything, 10)  # the default limit
    assert no_body.headers["x-pagination-total"] == str(min(everything, 11))

    bad_select = await env.client.post("/assistants/search", json={"select": ["nope"]})
    assert bad_select.status_code == 422
    assert bad_select.json()["detail"].startswith("Invalid select columns: ['nope']")
    bad_sort = await env.client.post("/assistants/search", json={"sort_by": "metadata"})
    assert bad_sort.status_code == 422
    bad_limit = await env.client.post("/assistants/search", json={"limit": 0})
    assert bad_limit.status_code == 422
    bad_graph = await env.client.post("/assistants/search", json={"graph_id": "missing"})
    assert bad_graph.status_code == 404


async def test_count(env: Env) -> None:
    await _create(env.client, name="counted", metadata={"k": 1})
    await _create(env.client, name="other", metadata={"k": 2})
    total = await env.client.post("/assistants/count", json={})
    assert (total.status_code, total.json()) == (200, len(GRAPH_IDS) + 2)
    assert (await env.client.post("/assistants/count")).json() == len(GRAPH_IDS) + 2
    assert (await env.client.post("/assistants/count", json={"metadata": {"k": 1}})).json() == 1
    assert (await env.client.post("/assistants/count", json={"graph_id": "hitl"})).json() == 1
    assert (await env.client.post("/assistants/count", json={"name": "COUNT"})).json() == 1
    assert (await env.client.post("/assistants/count", json={"limit": 1})).status_code == 422


async def test_resolve_maps_graph_ids_and_refuses_unknown_values(env: Env) -> None:
    assert (await assistants_service.resolve(env.services, "hitl"))["assistant_id"] == system_assistant_id(
        "hitl"
    )
    custom = await _create(env.client)
    resolved = await assistants_service.resolve(env.services, custom["assistant_id"].upper())
    assert resolved == custom
    with pytest.raises(router_errors.UnprocessableError) as bad:
        await assistants_service.resolve(env.services, "nope")
    assert bad.value.message == (
        "Invalid assistant: 'nope'. Must be either:\n- A valid assistant UUID, or\n"
        f"- One of the registered graphs: {', '.join(GRAPH_IDS)}"
    )
    with pytest.raises(router_errors.AssistantNotFoundError):
        await assistants_service.resolve(env.services, str(uuid.uuid4()))


async def test_graph_endpoints_answer_503_without_a_function_service(env: Env) -> None:
    response = await env.client.get(f"/assistants/{AGENT_ID}/schemas")
    assert response.status_code == 503
    assert "function service unreachable" in response.json()["detail"]


async def test_graph_schemas_and_subgraphs_from_the_function_service(fn_env: Env) -> None:
    client = fn_env.client
    graph = await client.get(f"/assistants/{AGENT_ID}/graph")
    assert graph.status_code == 200
    assert graph.json() == {
        "nodes": [
            {"id": "__start__", "type": "runnable", "data": {"name": "__start__"}},
            {"id": "step_a", "type": "runnable", "data": {"name": "step_a"}},
            {"id": "step_b", "type": "runnable", "data": {"name": "step_b"}},
            {"id": "__end__"},
        ],
        "edges": [
            {"source": "__start__", "target": "step_a"},
            {"source": "step_a", "target": "step_b"},
            {"source": "step_b", "target": "__end__"},
        ],
    }
    by_graph_id = await client.get("/assistants/agent/graph")
    assert by_graph_id.json() == graph.json()
    bad_xray = await client.get(f"/assistants/{AGENT_ID}/graph", params={"xray": "-1"})
    assert (bad_xray.status_code, bad_xray.json()) == (422, {"detail": "Invalid xray value"})
    nested_id = system_assistant_id("nested")
    xray = await client.get(f"/assistants/{nested_id}/graph", params={"xray": "true"})
    plain = await client.get(f"/assistants/{nested_id}/graph")
    assert len(xray.json()["nodes"]) > len(plain.json()["nodes"])

    schemas = await client.get(f"/assistants/{AGENT_ID}/schemas")
    assert schemas.status_code == 200
    body = schemas.json()
    assert body["graph_id"] == "agent"
    assert set(body) == {
        "graph_id",
        "input_schema",
        "output_schema",
        "state_schema",
        "config_schema",
        "context_schema",
    }
    assert "items" in body["state_schema"]["properties"]

    subgraphs = await client.get(f"/assistants/{nested_id}/subgraphs")
    assert subgraphs.status_code == 200
    assert list(subgraphs.json()) != []
    namespace = next(iter(subgraphs.json()))
    only = await client.get(f"/assistants/{nested_id}/subgraphs/{namespace}", params={"recurse": "true"})
    assert only.status_code == 200
    assert namespace in only.json()
    none = await client.get(f"/assistants/{AGENT_ID}/subgraphs")
    assert none.json() == {}
    missing = await client.get(f"/assistants/{uuid.uuid4()}/schemas")
    assert missing.status_code == 404


async def test_the_official_sdk_drives_every_assistant_endpoint(fn_env: Env) -> None:
    sdk: Any = LangGraphClient(fn_env.client)  # the SDK's TypedDicts are narrower than the wire
    aid = str(uuid.uuid4())
    created = await sdk.assistants.create(
        "agent",
        {"recursion_limit": 10, "tags": ["t"]},
        context={"model": "m"},
        metadata={"owner": "sdk"},
        assistant_id=aid,
        if_exists="raise",
        name="sdk-agent",
        description="made by the SDK",
    )
    assert created["config"] == {"recursion_limit": 10, "tags": ["t"], "configurable": {"model": "m"}}
    assert (created["context"], created["description"]) == ({"model": "m"}, "made by the SDK")
    assert await sdk.assistants.get(aid) == created
    with pytest.raises(ConflictError):
        await sdk.assistants.create("agent", assistant_id=aid)
    assert await sdk.assistants.create("agent", assistant_id=aid, if_exists="do_nothing") == created

    updated = await sdk.assistants.update(
        aid, graph_id="agent", config={"tags": ["u"]}, metadata={"v": 2}, name="renamed", description="d2"
    )
    assert (updated["version"], updated["name"], updated["metadata"]) == (
        2,
        "renamed",
        {"owner": "sdk", "v": 2},
    )
    versions = await sdk.assistants.get_versions(aid, metadata={"owner": "sdk"}, limit=5, offset=0)
    assert [v["version"] for v in versions] == [2, 1]
    assert (await sdk.assistants.set_latest(aid, 1))["name"] == "sdk-agent"

    page = await sdk.assistants.search(
        metadata={"owner": "sdk"},
        graph_id="agent",
        name="SDK",
        limit=1,
        offset=0,
        sort_by="created_at",
        sort_order="desc",
        select=["assistant_id", "name"],
        response_format="object",
    )
    assert page == {"assistants": [{"assistant_id": aid, "name": "sdk-agent"}], "next": None}
    first_of_all = await sdk.assistants.search(limit=1, response_format="object")
    assert isinstance(first_of_all, dict)
    assert first_of_all["next"] == "1"
    assert await sdk.assistants.count(metadata={"owner": "sdk"}, graph_id="agent", name="sdk") == 1

    assert [n["id"] for n in (await sdk.assistants.get_graph(aid, xray=1))["nodes"]][1:3] == [
        "step_a",
        "step_b",
    ]
    assert (await sdk.assistants.get_schemas(aid))["graph_id"] == "agent"
    nested = system_assistant_id("nested")
    subgraphs = await sdk.assistants.get_subgraphs(nested, recurse=True)
    namespace = next(iter(subgraphs))
    assert list(await sdk.assistants.get_subgraphs(nested, namespace, recurse=False)) == [namespace]

    thread = await sdk.threads.create(metadata={"assistant_id": aid})
    await sdk.assistants.delete(aid, delete_threads=True)
    with pytest.raises(NotFoundError):
        await sdk.assistants.get(aid)
    with pytest.raises(NotFoundError):
        await sdk.threads.get(thread["thread_id"])
    with pytest.raises(UnprocessableEntityError):
        await sdk.assistants.get("agent")


async def test_config_keys_are_checked_and_others_kept(env: Env) -> None:
    kept = await _create(env.client, config={"recursion_limit": 5, "max_concurrency": 2})
    assert kept["config"] == {"recursion_limit": 5, "max_concurrency": 2}
    bad_configs: list[dict[str, Any]] = [
        {"recursion_limit": "many"},
        {"recursion_limit": 0},
        {"tags": "t"},
        {"configurable": []},
    ]
    for bad in bad_configs:
        response = await env.client.post("/assistants", json={"graph_id": "agent", "config": bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"].startswith("config.")
    patched = await env.client.patch(f"/assistants/{kept['assistant_id']}", json={"config": {"tags": ["x"]}})
    assert patched.json()["config"] == {"tags": ["x"]}
