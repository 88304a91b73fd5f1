"""Parity of LangOpen's operations with the official Agent Server's OpenAPI document, and the
document LangOpen serves.

The upstream document is vendored in router/api/openapi/upstream.json (langgraph-api 0.16.7). Every
(method, path) pair it has must be a route mounted in the app (FastAPI's route table, not the served
document, which is built from it), apart from the ones listed in `NOT_SERVED` with the reason; the
share served must stay at or above 95 %.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from contracts import app_config
from router.api.openapi import document
from router.dispatch.targets import StaticTarget
from router.main import create_app
from router.settings import RouterSettings

APP_CONFIG = Path(__file__).parent / "app" / "langgraph.json"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# The "protocol v2" streaming operations (FF_V2_EVENT_STREAMING): not implemented, and answered 404.
NOT_SERVED = {
    ("POST", "/threads/{thread_id}/commands"),
    ("POST", "/threads/{thread_id}/stream/events"),
}


def upstream_operations() -> set[tuple[str, str]]:
    # The upstream document names the MCP endpoint `/mcp/`; the official server serves it at `/mcp`
    # (and redirects `/mcp/` there), as LangOpen does (contract §1).
    return {(m, "/mcp" if p == "/mcp/" else p) for m, p in document.operations(document.upstream())}


def make_app(config: Path = APP_CONFIG) -> FastAPI:
    settings = RouterSettings(
        database_url="postgresql://unused@127.0.0.1/unused",
        redis_url="redis://127.0.0.1:6379/0",
        config_path=config,
    )
    return create_app(settings, function_target=StaticTarget("http://127.0.0.1:1"))


def routed(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, listed in its schema or not."""
    return {
        (m, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.path is not None
        for m in context.methods or ()
        if m in METHODS
    }


def test_every_upstream_operation_is_routed_but_the_listed_ones() -> None:
    upstream = upstream_operations()
    assert len(upstream) == 64
    ours = routed(make_app())
    missing = upstream - ours
    assert missing == NOT_SERVED, sorted(missing ^ NOT_SERVED)
    share = len(upstream & ours) / len(upstream)
    assert share >= 0.95


def test_the_vendored_document_is_upstreams_unchanged() -> None:
    vendored = json.loads(document.UPSTREAM_PATH.read_text())
    assert vendored["info"] == {"title": "LangSmith Deployment", "version": "0.1.0"}
    assert len(vendored["paths"]) == 50
    assert len(vendored["components"]["schemas"]) == 58


def test_served_document_is_upstreams_for_upstream_operations() -> None:
    app = make_app()
    served: dict[str, Any] = app.openapi()
    assert served["info"] == {"title": "LangOpen Agent Server", "version": app.version}
    upstream = document.upstream()
    for method, path in document.operations(upstream) - NOT_SERVED:
        assert served["paths"][path][method.lower()] == upstream["paths"][path][method.lower()], (
            method,
            path,
        )
    for method, path in NOT_SERVED:
        assert method.lower() not in served["paths"].get(path, {})
    graphs = app_config.graph_ids(app_config.load_app_config(APP_CONFIG))
    for name in document.GRAPH_ID_SCHEMAS:
        assert served["components"]["schemas"][name]["properties"]["graph_id"]["enum"] == graphs
    assert "Streaming" not in {t["name"] for t in served["tags"]}


def test_served_document_lists_langopens_own_operations_from_fastapi() -> None:
    served = make_app().openapi()
    assert set(served["paths"]["/"]) == {"get"}
    assert set(served["paths"]["/a2a/{assistant_id}"]) == {"get", "post", "delete"}
    assert "get" in served["paths"]["/a2a/{assistant_id}/.well-known/agent-card.json"]
    assert "post" in served["paths"]["/events"]
    served_ops = document.operations(served)
    assert ("GET", "/openapi.json") not in served_ops
    # every listed operation is routed (the upstream `/mcp/` is served at `/mcp`)
    routes = document.mounted(make_app().routes)
    assert served_ops == routes


def test_disabled_groups_leave_the_served_document(tmp_path: Path) -> None:
    config = json.loads(APP_CONFIG.read_text())
    config["http"] = {"disable_store": True, "disable_mcp": True, "disable_a2a": True}
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(config))
    served = make_app(path).openapi()
    paths = set(served["paths"])
    assert not {p for p in paths if p.startswith(("/store", "/mcp", "/a2a", "/.well-known"))}
    assert "/threads" in paths
    assert {"Store", "MCP", "A2A"}.isdisjoint({t["name"] for t in served["tags"]})
