"""The `http` section of langgraph.json on the router: route groups turned off, CORS, and custom
routes (`http.app`) forwarded to the user's app in the function service (docs/decisions/0008).

Precedence is the official server's: its app is the user's app with the built-in routes appended
after the user's own, except `/docs` and `/openapi.json`, which go first. Starlette takes the first
route that matches path and method; failing that, the first that matches the path only (a 405);
failing that, a trailing-slash redirect. `takes_request` replays that order over the user's route
table (fetched once from the function service) and the router's own routes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import http_app as contract
from router import errors
from router.api import auth as auth_api
from router.api import errors as api_errors
from router.dispatch.proxy import HttpAppProxy, ProxyRequest
from router.services.context import Services

log = logging.getLogger(__name__)

NEVER_SHADOWED = frozenset({"/docs", "/openapi.json"})
META_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/info", "/metrics"})
A2A_PATHS = ("/a2a", "/.well-known/agent-card.json")


def route_group(path: str) -> str | None:
    """Which `http.disable_*` switch removes the route at `path` (None: none does)."""
    if path in META_PATHS:
        return "meta"
    if path.startswith("/threads/{thread_id}/runs") or path == "/runs" or path.startswith("/runs/"):
        return "runs"
    for group, prefix in (("assistants", "/assistants"), ("threads", "/threads"), ("store", "/store")):
        if path == prefix or path.startswith(prefix + "/"):
            return group
    if path == "/mcp" or path.startswith("/mcp/"):
        return "mcp"
    if any(path == p or path.startswith(p + "/") for p in A2A_PATHS):
        return "a2a"
    return None


def disabled_groups(http: contract.HttpConfig) -> set[str]:
    switches = {
        "assistants": http.disable_assistants,
        "threads": http.disable_threads,
        "runs": http.disable_runs,
        "store": http.disable_store,
        "mcp": http.disable_mcp,
        "a2a": http.disable_a2a,
        "meta": http.disable_meta,
    }
    return {group for group, off in switches.items() if off}


class RouteTable:
    """The user's app's routes, compiled, in its order."""

    def __init__(self, routes: contract.HttpRoutes) -> None:
        self.openapi = routes.openapi
        self._routes = [
            (re.compile(r.path_regex), frozenset(r.methods) if r.methods is not None else None)
            for r in routes.routes
        ]

    def match(self, method: str, path: str) -> Match:
        partial = False
        for pattern, methods in self._routes:
            if pattern.match(path):
                if methods is None or method in methods:
                    return Match.FULL
                partial = True
        return Match.PARTIAL if partial else Match.NONE


def _builtin_match(routes: list[BaseRoute], scope: Scope) -> Match:
    partial = False
    for route in routes:
        found, _ = route.matches(scope)
        if found == Match.FULL:
            return Match.FULL
        partial = partial or found == Match.PARTIAL
    return Match.PARTIAL if partial else Match.NONE


def takes_request(table: RouteTable, builtin: list[BaseRoute], scope: Scope) -> bool:
    """Whether the official server would answer this request with the user's app."""
    path, method = scope["path"], scope["method"]
    builtin_match = _builtin_match(builtin, scope)
    if path in NEVER_SHADOWED and builtin_match != Match.NONE:
        return False
    user_match = table.match(method, path)
    if user_match == Match.FULL:
        return True
    if builtin_match == Match.FULL:
        return False
    if user_match == Match.PARTIAL:
        return True
    if builtin_match == Match.PARTIAL or path == "/":
        return False
    # Nothing matched: Starlette redirects to the other trailing-slash form if that one matches.
    other = path[:-1] if path.endswith("/") else path + "/"
    return table.match(method, other) != Match.NONE


class CustomRoutes:
    """The user's route table, fetched from the function service on first need and kept."""

    def __init__(self, proxy: HttpAppProxy) -> None:
        self.proxy = proxy
        self.table: RouteTable | None = None
        self._lock = asyncio.Lock()

    async def load(self, services: Services) -> RouteTable:
        if self.table is None:
            async with self._lock:
                if self.table is None:
                    routes = await services.functions.call(
                        contract.ROUTES_REQUESTED, contract.RoutesRequest(), contract.HttpRoutes
                    )
                    self.table = RouteTable(routes)
                    log.info("custom routes loaded: %d routes", len(routes.routes))
        return self.table


class CustomRoutesMiddleware:
    """Forwards the requests the user's app takes (see `takes_request`) to the function service."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        custom: CustomRoutes,
        builtin: Callable[[], list[BaseRoute]],
        require_auth: bool = False,
    ) -> None:
        self.app = app
        self.custom = custom
        self.builtin = builtin
        self.require_auth = require_auth
        """`http.enable_custom_route_auth`: custom routes need an API key (router.api.auth)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services | None = getattr(scope["app"].state, "services", None)
        if scope["type"] != "http" or services is None:
            await self.app(scope, receive, send)
            return
        try:
            table = await self.custom.load(services)
        except errors.RouterError as exc:
            log.error("cannot load the custom routes of http.app: %s", exc)
            message = f"custom routes (http.app) unavailable: {exc.message}"
            await api_errors.detail_response(api_errors.status_for(exc), message)(scope, receive, send)
            return
        if not takes_request(table, self.builtin(), scope):
            await self.app(scope, receive, send)
            return
        if self.require_auth:
            try:
                await auth_api.authorize_custom_route(Request(scope))
            except errors.RouterError as exc:
                await api_errors.error_response(exc)(scope, receive, send)
                return
        await self._forward(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        client = scope.get("client")
        req = ProxyRequest(
            method=scope["method"],
            path_qs=raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else ""),
            headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]],
            body=bytes(body),
            client_host=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
        )
        try:
            async with self.custom.proxy.forward(req) as response:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": [
                            (n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response.headers
                        ],
                    }
                )
                await _pump(response.chunks, receive, send)
        except errors.FunctionError as exc:
            log.error("custom route %s %s failed: %s", scope["method"], scope["path"], exc)
            await api_errors.detail_response(api_errors.status_for(exc), exc.message)(scope, receive, send)


async def _pump(chunks: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
    """Copy the body until it ends or the client disconnects (then the upstream is closed). A
    stream that breaks half-way is cut short: the status has gone out already."""

    async def copy() -> None:
        try:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except errors.FunctionError as exc:
            log.error("custom route response cut short: %s", exc)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def disconnected() -> None:
        message: Message = await receive()
        while message["type"] != "http.disconnect":
            message = await receive()

    copying = asyncio.ensure_future(copy())
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({copying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (copying, watching):
            task.cancel()
        await asyncio.gather(copying, watching, return_exceptions=True)


def merge_openapi(base: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """The router's schema with the user's app's paths added; a user operation wins over a
    built-in one on the same path and method, as the user's route does."""
    if not user:
        return base
    merged = {**base, "paths": {**base.get("paths", {})}}
    for path, operations in (user.get("paths") or {}).items():
        merged["paths"][path] = {**merged["paths"].get(path, {}), **operations}
    user_schemas = (user.get("components") or {}).get("schemas") or {}
    if user_schemas:
        components = dict(merged.get("components") or {})
        components["schemas"] = {**user_schemas, **(components.get("schemas") or {})}
        merged["components"] = components
    return merged


def enabled_routes(router: APIRouter, http: contract.HttpConfig) -> APIRouter:
    """`router` without the routes of the groups `http` turns off (a copy: module routers are shared)."""
    off = disabled_groups(http)
    return APIRouter(routes=[r for r in router.routes if route_group(getattr(r, "path", "")) not in off])


def install(app: FastAPI, http: contract.HttpConfig, *, proxy: HttpAppProxy) -> None:
    """Apply `http` to an app whose routers went through `enabled_routes`: drop FastAPI's own
    /openapi.json and /docs if meta is off, forward custom routes (CORS: `install_cors`)."""
    off = disabled_groups(http)
    app.router.routes[:] = [r for r in app.router.routes if route_group(getattr(r, "path", "")) not in off]
    if http.app is not None:
        custom = CustomRoutes(proxy)
        app.add_middleware(
            CustomRoutesMiddleware,
            custom=custom,
            builtin=lambda: app.router.routes,
            require_auth=http.enable_custom_route_auth,
        )
        make_schema = app.openapi

        def openapi() -> dict[str, Any]:
            # The middleware loads the table before any request reaches /openapi.json.
            if app.openapi_schema is None:
                user = custom.table.openapi if custom.table is not None else None
                app.openapi_schema = merge_openapi(make_schema(), user)
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def install_cors(app: FastAPI, http: contract.HttpConfig) -> None:
    """`http.cors`, as the outermost middleware (added last)."""
    if http.cors is not None:
        app.add_middleware(CORSMiddleware, **http.cors.model_dump())
