"""Only the routes docs/auth.md declares public (/ok, /docs and the schema it loads, /openapi.json)
answer without a key; every other route the router mounts, FastAPI's own included, needs one."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from router.api import auth as auth_api
from tests.auth.tenants import Tenants, key
from tests.e2e.stack import ROOT

pytestmark = pytest.mark.xdist_group("auth_stack")

PUBLIC_PATHS = ("/ok", "/docs", "/openapi.json")


@pytest.mark.parametrize("prefix", ["", "/d/beta"])
async def test_only_the_documented_routes_are_public(http: httpx.AsyncClient, prefix: str) -> None:
    for path in PUBLIC_PATHS:
        assert (await http.get(prefix + path)).status_code == 200, path
    for path in ("/redoc", "/", "/info", "/metrics", "/openapi.json/x", "/redoc/x", "/docs/oauth2-redirect"):
        response = await http.get(prefix + path)
        assert response.status_code in (401, 404), (path, response.status_code)
        if response.status_code == 401:
            assert response.json() == {"detail": "Missing authentication headers"}
    assert (await http.get(prefix + "/redoc")).status_code == 401


async def test_redoc_is_served_with_a_key(http: httpx.AsyncClient, tenants: Tenants) -> None:
    response = await http.get("/redoc", headers=key(tenants, "default", "viewer"))
    assert response.status_code == 200
    assert "/openapi.json" in response.text


def test_the_public_table_is_what_the_docs_declare() -> None:
    public = {path for (_, path), perm in auth_api.ROUTE_PERMISSIONS.items() if perm is auth_api.PUBLIC}
    assert public == set(PUBLIC_PATHS)
    doc = (ROOT / "docs" / "auth.md").read_text()
    declared = re.search(r"`/ok`, `/docs` and `/openapi.json` are public", doc)
    assert declared is not None


def test_a_route_outside_the_key_check_stops_the_router() -> None:
    app = FastAPI(docs_url=None, redoc_url="/redoc")  # FastAPI's own ReDoc: no `authorize` on it
    with pytest.raises(RuntimeError, match="outside the key check"):
        auth_api.check_declared(app.routes)
    app.router.routes[:] = [r for r in app.routes if not (isinstance(r, Route) and r.path == "/redoc")]
    auth_api.check_declared(app.routes)  # /openapi.json alone is declared public
