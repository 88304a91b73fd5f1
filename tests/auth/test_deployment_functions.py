"""A deployment with its own function service and app (docs/decisions/0012): one router (which
requires keys) serves its own app (tests/app) at `/` and deployment `acme` at `/d/acme/`, whose row
names another function service running examples/custom_auth (graph `agent`, custom auth). Requests,
runs, graph lists and custom auth follow the deployment; an app the router cannot serve per
deployment (custom routes) is refused by name."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cli import admin
from router.store import pool as pool_store
from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.stack import APP_CONFIG, ROOT, Stack

CUSTOM_AUTH_APP = ROOT / "examples" / "custom_auth" / "langgraph.json"
CUSTOM_ROUTES_APP = ROOT / "tests" / "app_custom" / "langgraph.json"
ALICE = {"Authorization": "Bearer user1-token"}


@dataclass
class Setup:
    router: Stack
    acme_function: Stack
    keys: dict[str, str]


async def _bootstrap(dsn: str, acme_url: str, refused_url: str) -> dict[str, str]:
    async with (
        pool_store.open_pool(dsn, min_size=1, max_size=1, command_timeout=30) as pool,
        pool.acquire() as conn,
    ):
        await admin.create_org(conn, "acme-org")
        await admin.create_project(conn, "acme-org", "acme")
        await admin.create_deployment(conn, "acme", "acme", function_url=acme_url)
        await admin.create_deployment(conn, "acme", "routes", function_url=refused_url)
        return {
            "default": (await admin.create_key(conn, "default", "developer"))[1],
            "acme": (await admin.create_key(conn, "acme", "developer"))[1],
        }


def _function(dsn: str, prefix: str, workdir: Path, config: Path) -> Stack:
    stack = Stack(database_url=dsn, redis_url=REDIS_URL, redis_prefix=prefix, workdir=workdir, config=config)
    stack.start_function()
    return stack


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    prefix = f"langopen-deployments:{uuid.uuid4().hex[:8]}"
    with migrated_database("t_deployments") as dsn:
        acme = _function(dsn, prefix, tmp_path_factory.mktemp("acme"), CUSTOM_AUTH_APP)
        routes = _function(dsn, prefix, tmp_path_factory.mktemp("routes"), CUSTOM_ROUTES_APP)
        router = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            workdir=tmp_path_factory.mktemp("router"),
            router_module="router",
            config=APP_CONFIG,
        )
        try:
            keys = asyncio.run(_bootstrap(dsn, acme.function_url, routes.function_url))
            router.start()
            yield Setup(router=router, acme_function=acme, keys=keys)
        finally:
            for stack in (router, acme, routes):
                stack.stop()


@pytest.fixture
async def http(setup: Setup) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=setup.router.url, timeout=30.0) as client:
        yield client


def _key(setup: Setup, project: str) -> dict[str, str]:
    return {"X-Api-Key": setup.keys[project]}


async def test_runs_of_a_deployment_execute_on_its_own_function_with_its_custom_auth(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    body = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": "hi"}]}}
    out = await http.post("/d/acme/runs/wait", json=body, headers=ALICE)
    assert out.status_code == 200, out.text
    assert out.json()["caller"] == "user1"  # only examples/custom_auth's graph records the caller
    assert out.json()["messages"][-1]["content"] == "You said: hi"
    wrong = await http.post("/d/acme/threads", json={}, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token"})
    # the router's own deployment has no custom auth: a bearer token is no key there
    own = await http.post("/threads", json={}, headers=ALICE)
    assert (own.status_code, own.json()) == (401, {"detail": "Missing authentication headers"})
    assert (await http.post("/threads", json={}, headers=_key(setup, "default"))).status_code == 200


async def test_each_deployment_has_the_graphs_of_its_own_app(http: httpx.AsyncClient, setup: Setup) -> None:
    memory = await http.post("/assistants", json={"graph_id": "memory"}, headers=_key(setup, "default"))
    assert memory.status_code == 200, memory.text
    studio = {**_key(setup, "acme"), "X-Auth-Scheme": "langsmith"}  # the studio path: an API key
    refused = await http.post("/d/acme/assistants", json={"graph_id": "memory"}, headers=studio)
    assert refused.status_code == 404, refused.text
    assert refused.json() == {"detail": "Graph 'memory' not found. Expected one of: ['agent']"}
    thread = await http.post("/d/acme/threads", json={}, headers=ALICE)
    tid = thread.json()["thread_id"]
    not_here = await http.post(
        f"/d/acme/threads/{tid}/runs/wait", json={"assistant_id": "memory", "input": {}}, headers=ALICE
    )
    assert not_here.status_code == 422, not_here.text  # not one of acme's graphs


async def test_keys_stay_with_their_project_across_deployments(http: httpx.AsyncClient, setup: Setup) -> None:
    other = await http.post("/threads", json={}, headers=_key(setup, "acme"))
    assert other.status_code == 403, other.text
    studio = {**_key(setup, "default"), "X-Auth-Scheme": "langsmith"}
    assert (await http.post("/d/acme/threads", json={}, headers=studio)).status_code == 403


async def test_an_app_with_custom_routes_on_its_own_function_is_refused_by_name(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    response = await http.post("/d/routes/threads", json={}, headers=_key(setup, "acme"))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "deployment 'routes'" in detail
    assert "http.app" in detail
    assert "http.disable_store" in detail
