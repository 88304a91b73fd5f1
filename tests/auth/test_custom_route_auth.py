"""Custom routes (`http.app`, tests/app_custom) and the API-key check, as on the official server:
open unless `http.enable_custom_route_auth` is true, then they need a key of the project that owns
the deployment, with the built-in routes' answers (401 official body, 403, 429)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.tenants import Tenants, key, running_tenants
from tests.e2e.stack import ROOT

pytestmark = pytest.mark.xdist_group("auth_stack")

CUSTOM_CONFIG = ROOT / "tests" / "app_custom" / "langgraph.json"


def _config(folder: Path, *, custom_route_auth: bool) -> Path:
    config: dict[str, Any] = json.loads(CUSTOM_CONFIG.read_text())
    config["http"] = {
        "app": f"{CUSTOM_CONFIG.parent}/webapp.py:app",
        "enable_custom_route_auth": custom_route_auth,
    }
    config["dependencies"] = [str(CUSTOM_CONFIG.parent)]
    config["graphs"] = {"echo": f"{CUSTOM_CONFIG.parent}/graph.py:graph"}
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module", params=[True, False], ids=["custom-route-auth", "open-custom-routes"])
def custom(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    folder = tmp_path_factory.mktemp("custom-auth")
    with running_tenants(folder, config=_config(folder, custom_route_auth=request.param)) as running:
        yield running


@pytest.fixture
async def client(custom: Tenants) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=custom.stack.url, timeout=20.0) as c:
        yield c


def _auth_on(request: pytest.FixtureRequest) -> bool:
    return "custom-route-auth" in request.node.callspec.id


async def test_custom_routes_need_a_key_exactly_when_custom_route_auth_is_on(
    client: httpx.AsyncClient, custom: Tenants, request: pytest.FixtureRequest
) -> None:
    anonymous = await client.get("/hello")
    wrong = await client.get("/hello", headers={"X-Api-Key": "lo_000000000000_" + "x" * 43})
    if _auth_on(request):
        assert anonymous.status_code == 401
        assert anonymous.json() == {"detail": "Missing authentication headers"}
        assert wrong.status_code == 401
        assert wrong.json() == {"detail": "Invalid token"}
        other_project = await client.get("/hello", headers=key(custom, "beta", "admin"))
        assert other_project.status_code == 403, other_project.text
        refused_post = await client.post("/echo/x", content=b"body")
        assert refused_post.status_code == 401
    else:
        assert anonymous.status_code == 200, anonymous.text  # the official default: open
        assert wrong.status_code == 200
    for role in ("viewer", "admin"):
        allowed = await client.get("/hello", headers=key(custom, "default", role))
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["hello"] == "world"
    # built-in routes need a key either way
    assert (await client.post("/threads/search", json={})).status_code == 401


async def test_custom_routes_are_served_under_a_deployment_prefix(
    client: httpx.AsyncClient, custom: Tenants, request: pytest.FixtureRequest
) -> None:
    """`/d/beta/hello` reaches the custom route with the prefix stripped, and with custom-route auth on
    it needs a key of the project owning `beta` (a `default` key is refused)."""
    beta = await client.get("/d/beta/hello", headers=key(custom, "beta", "viewer"))
    assert beta.status_code == 200, beta.text
    assert beta.json()["hello"] == "world"
    wrong_project = await client.get("/d/beta/hello", headers=key(custom, "default", "admin"))
    assert wrong_project.status_code == (403 if _auth_on(request) else 200), wrong_project.text
