"""Store items are kept apart per deployment inside the function service, for graphs and the Store
API alike (functions.store.DeploymentStore): deployment `default` (project `default`, at `/`) and
deployment `beta` (project `beta`, at `/d/beta`) of the auth stack (tests/auth/tenants.py) use the
same namespace and never see each other's items."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.auth.tenants import Tenants, key

pytestmark = pytest.mark.xdist_group("auth_stack")


async def _remember(
    http: httpx.AsyncClient, headers: dict[str, str], base: str, state: dict[str, Any]
) -> Any:
    """Run the `memory` graph (tests/app/memory.py) in the deployment at `base`; its final state."""
    response = await http.post(
        f"{base}/runs/wait", json={"assistant_id": "memory", "input": state}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_graphs_and_the_api_of_each_deployment_see_only_its_own_items(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    a, b = key(tenants, "default", "developer"), key(tenants, "beta", "developer")
    namespace = [f"shared-{uuid.uuid4().hex[:8]}"]
    put = await http.put(
        "/store/items", json={"namespace": namespace, "key": "k", "value": {"owner": "a"}}, headers=a
    )
    assert put.status_code == 204, put.text

    # a graph of deployment beta cannot read A's item, and what it writes stays in beta
    in_b = await _remember(
        http, b, "/d/beta", {"namespace": namespace, "key": "b", "value": {"owner": "b"}, "read_key": "k"}
    )
    assert in_b["found"] is None
    # a graph of the default deployment reads A's item but not beta's
    assert (await _remember(http, a, "", {"namespace": namespace, "read_key": "k"}))["found"] == {
        "owner": "a"
    }
    assert (await _remember(http, a, "", {"namespace": namespace, "read_key": "b"}))["found"] is None

    # the API of each deployment sees its own items, under the namespace it used
    params = {"namespace": namespace[0]}
    own_b = await http.get("/d/beta/store/items", params={**params, "key": "b"}, headers=b)
    assert own_b.status_code == 200, own_b.text
    assert own_b.json()["namespace"] == namespace
    assert own_b.json()["value"] == {"owner": "b"}
    for base, headers, other in (("/d/beta", b, "k"), ("", a, "b")):
        missing = await http.get(f"{base}/store/items", params={**params, "key": other}, headers=headers)
        assert missing.status_code == 200, missing.text
        assert missing.json() is None  # the other deployment's item does not exist here
    found_b = await http.post("/d/beta/store/items/search", json={"namespace_prefix": namespace}, headers=b)
    assert [(i["key"], i["namespace"]) for i in found_b.json()["items"]] == [("b", namespace)]
    found_a = await http.post("/store/items/search", json={"namespace_prefix": namespace}, headers=a)
    assert [(i["key"], i["namespace"]) for i in found_a.json()["items"]] == [("k", namespace)]
    listed_b = await http.post("/d/beta/store/namespaces", json={"max_depth": 1}, headers=b)
    assert listed_b.status_code == 200, listed_b.text
    assert namespace in listed_b.json()["namespaces"]
    assert all(not ns[0].startswith("deployment-") for ns in listed_b.json()["namespaces"])


async def test_the_default_deployment_never_sees_nor_names_another_deployments_items(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    """The default deployment is scoped like any other: a search or listing without a prefix shows
    none of beta's items, and naming beta's label (`deployment-<id>`) stays inside its own space."""
    a, b = key(tenants, "default", "developer"), key(tenants, "beta", "developer")
    namespace = [f"beta-only-{uuid.uuid4().hex[:8]}"]
    put = await http.put(
        "/d/beta/store/items", json={"namespace": namespace, "key": "secret", "value": {"v": 1}}, headers=b
    )
    assert put.status_code == 204, put.text
    everything = await http.post(
        "/store/items/search", json={"namespace_prefix": [], "limit": 1000}, headers=a
    )
    assert everything.status_code == 200, everything.text
    assert all(item["namespace"] != namespace for item in everything.json()["items"])
    assert all(not item["namespace"][0].startswith("deployment-") for item in everything.json()["items"])
    listed = await http.post("/store/namespaces", json={"limit": 1000}, headers=a)
    assert namespace not in listed.json()["namespaces"]
    assert all(not ns[0].startswith("deployment-") for ns in listed.json()["namespaces"])
    conn = await asyncpg.connect(tenants.dsn)
    try:
        beta_id = await conn.fetchval("SELECT deployment_id FROM deployments WHERE name = 'beta'")
    finally:
        await conn.close()
    spoofed = await http.get(
        "/store/items",
        params={"namespace": f"deployment-{beta_id}.{namespace[0]}", "key": "secret"},
        headers=a,
    )
    assert spoofed.status_code == 200, spoofed.text
    assert spoofed.json() is None
