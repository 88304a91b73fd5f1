"""The user's custom app (`http.app` of langgraph.json), served by the function service.

The router forwards a request a custom route takes with the `HTTP_APP_HEADER` header; `HttpAppDispatch`
hands such requests to the user's app with the scope unchanged (path, query, headers, client), every
other request to the function service's own routes. The route table (`route_table`) tells the router
which requests are custom (docs/decisions/0008).

Only what the router can match exactly is accepted: plain routes and mounts. Host routes, WebSocket
routes and `on_startup`/`on_shutdown` handlers (the official server refuses those too) fail at startup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts import http_app
from functions.errors import GraphLoadError
from functions.graphs import load_object

_MARKER = http_app.HTTP_APP_HEADER.encode()


def load_app(spec: str, base: Path) -> Starlette:
    """Import the user's app; call after the graphs are loaded (their folder is on sys.path then)."""
    try:
        value = load_object(spec, base)
    except (ImportError, FileNotFoundError, AttributeError) as exc:
        raise GraphLoadError(f"http.app: {exc}") from exc
    if not isinstance(value, Starlette):
        raise GraphLoadError(f"http.app: {spec} is {type(value).__name__}, not a Starlette or FastAPI app")
    if getattr(value.router, "on_startup", None) or getattr(value.router, "on_shutdown", None):
        raise GraphLoadError("http.app: use a lifespan instead of on_startup/on_shutdown handlers")
    route_table(value)  # refuse what the router could not match, before anything is served
    return value


def _describe(route: BaseRoute) -> http_app.HttpRoute:
    if isinstance(route, Route):
        methods = sorted(route.methods) if route.methods else None
        return http_app.HttpRoute(path=route.path, path_regex=route.path_regex.pattern, methods=methods)
    if isinstance(route, Mount):
        return http_app.HttpRoute(path=route.path, path_regex=route.path_regex.pattern, methods=None)
    if isinstance(route, WebSocketRoute):
        raise GraphLoadError(f"http.app: WebSocket route {route.path} cannot be proxied by the router")
    if isinstance(route, Host):
        raise GraphLoadError(f"http.app: Host route {route.host} is not supported")
    raise GraphLoadError(f"http.app: route type {type(route).__name__} is not supported")


def route_table(app: Starlette) -> http_app.HttpRoutes:
    """The app's routes in matching order, and its OpenAPI schema when it is a FastAPI app."""
    routes = [_describe(route) for route in app.router.routes]
    openapi: dict[str, Any] | None = None
    make_openapi = getattr(app, "openapi", None)
    if callable(make_openapi):
        openapi = make_openapi()
    return http_app.HttpRoutes(routes=routes, openapi=openapi)


@asynccontextmanager
async def running(app: Starlette | None) -> AsyncIterator[None]:
    """Run the user's app's lifespan around the function service's life."""
    if app is None:
        yield
        return
    async with app.router.lifespan_context(app):
        yield


class HttpAppDispatch:
    """ASGI middleware: requests the router marked go to the user's app (`Services.http_app`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == _MARKER for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        services = getattr(scope["app"].state, "services", None)
        user_app: Starlette | None = getattr(services, "http_app", None)
        if user_app is None:
            response = JSONResponse({"detail": "this function service has no http.app"}, status_code=404)
            await response(scope, receive, send)
            return
        headers = [(n, v) for n, v in scope["headers"] if n != _MARKER]
        await user_app({**scope, "headers": headers}, receive, send)
