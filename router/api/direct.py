"""The busiest operations called without FastAPI's per-request machinery (docs/decisions/0019).

Creating threads and runs is what every client does most. Through FastAPI each such request passes
ten more layers of middleware, routers and handlers than its endpoint needs, and has its
dependencies resolved by a generic solver. Every layer is also a coroutine frame the event loop
resumes at each await of the request. In the concurrent bench that plumbing was about a quarter of
the router's CPU.

`DirectRoutes`, the innermost user middleware, answers those requests itself. It calls the same
route's own dependencies and endpoint, found from the route's FastAPI declaration
(`route.dependant`), and answers errors with the app's own exception handlers. Nothing about the
operation is written twice. Everything it is not sure of goes to FastAPI unchanged:

* a route is taken only when each of its dependencies is one this module knows how to call
  (`KNOWN`: each takes just the request), and it has no query, header or cookie parameters and at
  most one body parameter (checked once, at startup);
* a request is taken only when it matches one of those routes fully, and carries a JSON body
  (`Content-Type: application/json`) that parses and validates as the route's body type;
  otherwise FastAPI answers it, from the same bytes, and reports the error as it always does.

Validation comes before anything else, so a request handed to FastAPI has had no effect yet.
The rest is in FastAPI's order: the route's dependencies in declaration order, then the endpoint.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.api import auth, deps

OPERATIONS = (
    ("POST", "/threads"),
    ("POST", "/threads/{thread_id}/runs"),
    ("POST", "/threads/{thread_id}/runs/stream"),
    ("POST", "/threads/{thread_id}/runs/wait"),
)
"""The operations answered directly, when their declaration allows (`direct_route`)."""

KNOWN: frozenset[Callable[..., Any]] = frozenset(
    {auth.authorize, deps.check_input, deps.get_services, auth.path_prefix}
)
"""Dependencies called directly: each is `async def f(request) -> value` with nothing below it."""

JSON = b"application/json"
Handler = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True)
class DirectRoute:
    route: APIRoute
    """The route as declared (what FastAPI puts in the scope as `route`)."""
    context: RouteContext
    """The route as included in the app (its dependencies include the app's): matches, dependant."""
    dependencies: tuple[tuple[str | None, Callable[[Request], Awaitable[Any]]], ...]
    """(the endpoint parameter it fills or None, the dependency), in FastAPI's order."""
    request_param: str | None
    path_params: tuple[str, ...]
    body_param: str | None
    endpoint: Callable[..., Awaitable[Response]]
    body: TypeAdapter[Any] | None


def direct_route(context: RouteContext) -> DirectRoute | None:
    """How to call the route of `context` directly, or None when its declaration has anything
    `KNOWN` does not cover (then FastAPI keeps answering it)."""
    route = context.original_route
    dependant: Dependant | None = context.dependant
    if not isinstance(route, APIRoute) or dependant is None:
        return None
    if any(p.field_info.annotation is not str for p in dependant.path_params):
        return None  # FastAPI would convert it
    if dependant.query_params or dependant.header_params or dependant.cookie_params:
        return None
    if len(dependant.body_params) > 1 or dependant.websocket_param_name or dependant.response_param_name:
        return None
    if dependant.background_tasks_param_name or dependant.security_scopes_param_name:
        return None
    calls: list[tuple[str | None, Callable[[Request], Awaitable[Any]]]] = []
    for sub in dependant.dependencies:
        if sub.call not in KNOWN or sub.dependencies or sub.body_params or sub.path_params:
            return None
        calls.append((sub.name, sub.call))
    body_param = dependant.body_params[0] if dependant.body_params else None
    body_type = body_param.field_info.annotation if body_param is not None else None
    if context.endpoint is None or (body_param is not None and body_type is None):
        return None
    return DirectRoute(
        route=route,
        context=context,
        dependencies=tuple(calls),
        request_param=dependant.request_param_name,
        path_params=tuple(p.name for p in dependant.path_params),
        body_param=body_param.name if body_param else None,
        endpoint=context.endpoint,
        body=TypeAdapter(body_type) if body_type is not None else None,
    )


def direct_routes(app: FastAPI) -> list[DirectRoute]:
    """The routes of `OPERATIONS` that can be called directly, in the app's order."""
    found = []
    wanted = set(OPERATIONS)
    for context in iter_route_contexts(app.routes):
        if any((method, context.path) in wanted for method in context.methods or ()):
            direct = direct_route(context)
            if direct is not None:
                found.append(direct)
    return found


class DirectRoutes:
    """Answers the requests of `direct_routes(app)` without FastAPI's routing and dependency
    solving; hands every other request to the rest of the stack."""

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        self._fastapi = fastapi
        self._routes: list[DirectRoute] | None = None
        self._handlers: dict[Any, Handler] = {}

    def _table(self) -> list[DirectRoute]:
        # On first use: the route table and the exception handlers are final once the app serves.
        if self._routes is None:
            handlers = {
                key: handler
                for key, handler in self._fastapi.exception_handlers.items()
                if key not in (500, Exception)  # ServerErrorMiddleware's, outside this one
            }
            if all(inspect.iscoroutinefunction(h) for h in handlers.values()):
                self._handlers = cast(dict[Any, Handler], handlers)
                self._routes = direct_routes(self._fastapi)
            else:  # Starlette would run a plain function in its thread pool: leave it all to FastAPI
                self._routes = []
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        for direct in self._table():
            match, child = direct.context.matches(scope)
            if match is Match.FULL:
                await self._answer(direct, {**scope, **child, "route": direct.route}, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, direct: DirectRoute, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:  # the client went away while sending it
            return
        replay = _replaying(body, receive)
        parsed = _json_body(direct, scope, body)
        if parsed is None:
            await self.app(scope, replay, send)  # FastAPI answers, and words any error itself
            return
        request = Request(scope, replay)
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            response = await self._call(direct, request, parsed[0])
            await response(scope, replay, sending)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None or started:
                raise
            await (await handler(request, exc))(scope, replay, sending)

    async def _call(self, direct: DirectRoute, request: Request, body: Any) -> Response:
        kwargs: dict[str, Any] = {name: request.path_params[name] for name in direct.path_params}
        for name, dependency in direct.dependencies:
            value = await dependency(request)
            if name is not None:
                kwargs[name] = value
        if direct.request_param is not None:
            kwargs[direct.request_param] = request
        if direct.body_param is not None:
            kwargs[direct.body_param] = body
        return await direct.endpoint(**kwargs)

    def _handler_for(self, exc: Exception) -> Handler | None:
        """The handler Starlette's ExceptionMiddleware would pick."""
        if isinstance(exc, HTTPException) and exc.status_code in self._handlers:
            return self._handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None


def _json_body(direct: DirectRoute, scope: Scope, body: bytes) -> tuple[Any] | None:
    """The validated body, or None when FastAPI must answer: not a JSON body, not JSON, or not
    valid (FastAPI reads it the same way: `json.loads`, then the parameter's type)."""
    if direct.body is None:
        return (None,) if not body else None
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
    if not body or content_type != JSON:
        return None
    try:
        return (direct.body.validate_python(json.loads(body)),)
    except (ValueError, ValidationError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read handed out first, once."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
