"""The document `/openapi.json` serves, built once per app, the way the official server builds its own.

The official server serves its static document (`upstream.json`) with the `graph_id` enum filled in
from `langgraph.json`. LangOpen serves the same: the upstream operations it has mounted, with the
upstream paths, parameters, bodies, responses and components, so clients and schema-driven tools
see the contract. The operations LangOpen adds (custom routes aside: `http_app` merges those) come
from FastAPI's generator. Operations that are not mounted (turned off by `http.disable_*`, or not
implemented) are left out, and so are tags no operation uses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

UPSTREAM_PATH = Path(__file__).with_name("upstream.json")
METHODS = ("get", "put", "post", "delete", "patch")
# The upstream document names the MCP endpoint `/mcp/`; the official server serves it at `/mcp` (and
# redirects `/mcp/` there), as LangOpen does (contract §1). The served document keeps upstream's name.
UPSTREAM_ALIASES = {"/mcp": "/mcp/"}
# The schemas whose `graph_id` the official server restricts to the graphs of langgraph.json.
GRAPH_ID_SCHEMAS = ("Assistant", "AssistantCreate", "AssistantPatch", "GraphSchema", "AssistantSearchRequest")

# The upstream operations' 422 response, and the schemas FastAPI generates for its own 422 body.
VALIDATION_ERROR_RESPONSE = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}
FASTAPI_ERROR_SCHEMAS = frozenset({"HTTPValidationError", "ValidationError"})

Operation = tuple[str, str]  # (method in upper case, path as the upstream document spells it)


@cache
def _upstream_text() -> str:
    return UPSTREAM_PATH.read_text()


def upstream() -> dict[str, Any]:
    """A fresh copy of the official document."""
    document: dict[str, Any] = json.loads(_upstream_text())
    return document


def operations(document: dict[str, Any]) -> set[Operation]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def schema_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """The app's API routes listed in its schema, with included routers flattened (LangOpen includes
    its routers without a prefix, so a route's own path is the path it is served at)."""
    found = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert context.path == route.path, (context.path, route.path)
            found.append(route)
    return found


def mounted(routes: Sequence[BaseRoute]) -> set[Operation]:
    """The (method, path) pairs the app serves and lists, with upstream's spelling of the path."""
    return {
        (method, UPSTREAM_ALIASES.get(route.path, route.path))
        for route in schema_routes(routes)
        for method in route.methods or ()
        if method.lower() in METHODS
    }


def _own_routes(routes: Sequence[APIRoute], official: set[Operation]) -> list[APIRoute]:
    """The routes with an operation upstream does not list (a route object may carry both kinds)."""
    own = []
    for route in routes:
        path = UPSTREAM_ALIASES.get(route.path, route.path)
        methods = {m for m in route.methods or () if m.lower() in METHODS and (m, path) not in official}
        if methods:
            clone = copy.copy(route)
            clone.methods = methods
            own.append(clone)
    return own


def _merge_generated(document: dict[str, Any], generated: dict[str, Any]) -> None:
    """Add FastAPI's entries; their 422s get the error body LangOpen sends (`{"detail": str}`, the
    upstream `ErrorResponse`), not FastAPI's own (`HTTPValidationError`), which is never sent."""
    for path, item in generated.get("paths", {}).items():
        for operation in item.values():
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = copy.deepcopy(VALIDATION_ERROR_RESPONSE)
        document["paths"].setdefault(path, {}).update(item)
    text = json.dumps(generated["paths"])
    schemas = document["components"]["schemas"]
    for name, schema in generated.get("components", {}).get("schemas", {}).items():
        if name in FASTAPI_ERROR_SCHEMAS and f"#/components/schemas/{name}" not in text:
            continue
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"generated schema {name} clashes with the upstream schema of that name")
        schemas[name] = schema


def build(
    routes: Sequence[BaseRoute], *, graph_ids: Sequence[str], title: str, version: str
) -> dict[str, Any]:
    """The served document for an app with these routes and graphs; `info` names LangOpen."""
    document = upstream()
    document["info"] = {"title": title, "version": version}
    served = mounted(routes)
    for path, item in list(document["paths"].items()):
        for method in [m for m in item if (m.upper(), path) not in served]:
            del item[method]
        if not item:
            del document["paths"][path]
    for name in GRAPH_ID_SCHEMAS:
        document["components"]["schemas"][name]["properties"]["graph_id"]["enum"] = list(graph_ids)
    official = operations(upstream())
    own = _own_routes(schema_routes(routes), official)
    if own:
        _merge_generated(document, get_openapi(title="", version="", routes=own))
    used = {tag for item in document["paths"].values() for op in item.values() for tag in op.get("tags", ())}
    document["tags"] = [t for t in document.get("tags", []) if t["name"] in used]
    return document
