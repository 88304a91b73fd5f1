"""The request pipeline: which deployment a request acts for, who is calling, and whether they may.

1. `DeploymentPrefix` (ASGI middleware) reads the deployment a request names, from its host
   (`{name}.{base domain}`) or its path prefix (`/d/{name}/…`, stripped before routing).
2. `authorize`, a dependency of every Agent Server route, authenticates the caller (an
   Authenticator: API keys now, custom auth from langgraph.json next), refuses clients and key
   prefixes over the failed-authentication limit (429), resolves the deployment (404 if unknown),
   checks that the caller's project owns it and that its role has the route's permission (403
   naming it), and makes the request act for the deployment (router.tenancy).

`ROUTE_PERMISSIONS` is the one table of what each route needs (docs/auth.md); a route missing from
it fails at startup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from router import access, errors, tenancy
from router.auth import audit, keys
from router.auth.custom import CustomAuth, studio_user, takes_studio_path
from router.auth.limits import FailureLimiter
from router.auth.permissions import Permission
from router.auth.principals import ANONYMOUS, API_KEY_HEADER, Authenticator, KeyRefusedError, Principal
from router.services import assistants as assistants_service
from router.services.context import Services
from router.store import accounts

log = logging.getLogger(__name__)

P = Permission
PUBLIC = None
"""Routes anyone may call: the health check and the API's own description (/docs and the schema it
loads). Everything else the router serves needs a key (`check_declared` refuses to start otherwise)."""
DEPLOYMENT_SCOPE_KEY = "langopen.deployment"
PATH_PREFIX_SCOPE_KEY = "langopen.path_prefix"
CUSTOM_ROUTE_PERMISSION = Permission.SYSTEM_READ
"""What a custom route needs when `http.enable_custom_route_auth` is on: the user's app decides the
rest, as on the official server."""

ROUTE_PERMISSIONS: dict[tuple[str, str], Permission | None] = {
    ("GET", "/ok"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/redoc"): P.SYSTEM_READ,
    ("GET", "/"): P.SYSTEM_READ,
    ("GET", "/info"): P.SYSTEM_READ,
    ("GET", "/metrics"): P.METRICS_READ,
    ("POST", "/assistants"): P.ASSISTANTS_WRITE,
    ("POST", "/assistants/search"): P.ASSISTANTS_READ,
    ("POST", "/assistants/count"): P.ASSISTANTS_READ,
    ("GET", "/assistants/{assistant_id}"): P.ASSISTANTS_READ,
    ("PATCH", "/assistants/{assistant_id}"): P.ASSISTANTS_WRITE,
    ("DELETE", "/assistants/{assistant_id}"): P.ASSISTANTS_WRITE,
    ("GET", "/assistants/{assistant_id}/graph"): P.ASSISTANTS_READ,
    ("GET", "/assistants/{assistant_id}/subgraphs"): P.ASSISTANTS_READ,
    ("GET", "/assistants/{assistant_id}/subgraphs/{namespace}"): P.ASSISTANTS_READ,
    ("GET", "/assistants/{assistant_id}/schemas"): P.ASSISTANTS_READ,
    ("POST", "/assistants/{assistant_id}/versions"): P.ASSISTANTS_READ,
    ("POST", "/assistants/{assistant_id}/latest"): P.ASSISTANTS_WRITE,
    ("POST", "/threads"): P.THREADS_WRITE,
    ("POST", "/threads/search"): P.THREADS_READ,
    ("POST", "/threads/count"): P.THREADS_READ,
    ("POST", "/threads/prune"): P.THREADS_WRITE,
    ("GET", "/threads/{thread_id}"): P.THREADS_READ,
    ("PATCH", "/threads/{thread_id}"): P.THREADS_WRITE,
    ("DELETE", "/threads/{thread_id}"): P.THREADS_WRITE,
    ("POST", "/threads/{thread_id}/copy"): P.THREADS_WRITE,
    ("GET", "/threads/{thread_id}/storage"): P.THREADS_READ,
    ("GET", "/threads/{thread_id}/state"): P.THREADS_READ,
    ("POST", "/threads/{thread_id}/state"): P.THREADS_WRITE,
    ("POST", "/threads/{thread_id}/state/checkpoint"): P.THREADS_READ,
    ("GET", "/threads/{thread_id}/state/{checkpoint_id}"): P.THREADS_READ,
    ("GET", "/threads/{thread_id}/history"): P.THREADS_READ,
    ("POST", "/threads/{thread_id}/history"): P.THREADS_READ,
    ("GET", "/threads/{thread_id}/stream"): P.RUNS_READ,
    ("POST", "/threads/{thread_id}/runs"): P.RUNS_WRITE,
    ("POST", "/threads/{thread_id}/runs/stream"): P.RUNS_WRITE,
    ("POST", "/threads/{thread_id}/runs/wait"): P.RUNS_WRITE,
    ("GET", "/threads/{thread_id}/runs"): P.RUNS_READ,
    ("GET", "/threads/{thread_id}/runs/{run_id}"): P.RUNS_READ,
    ("DELETE", "/threads/{thread_id}/runs/{run_id}"): P.RUNS_WRITE,
    ("GET", "/threads/{thread_id}/runs/{run_id}/join"): P.RUNS_READ,
    ("GET", "/threads/{thread_id}/runs/{run_id}/stream"): P.RUNS_READ,
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): P.RUNS_WRITE,
    ("POST", "/runs/cancel"): P.RUNS_WRITE,
    ("POST", "/runs"): P.RUNS_WRITE,
    ("POST", "/runs/stream"): P.RUNS_WRITE,
    ("POST", "/runs/wait"): P.RUNS_WRITE,
    ("POST", "/runs/batch"): P.RUNS_WRITE,
    ("PUT", "/store/items"): P.STORE_WRITE,
    ("GET", "/store/items"): P.STORE_READ,
    ("DELETE", "/store/items"): P.STORE_WRITE,
    ("POST", "/store/items/search"): P.STORE_READ,
    ("POST", "/store/namespaces"): P.STORE_READ,
    ("POST", "/threads/{thread_id}/runs/crons"): P.CRONS_WRITE,
    ("POST", "/runs/crons"): P.CRONS_WRITE,
    ("POST", "/runs/crons/search"): P.CRONS_READ,
    ("POST", "/runs/crons/count"): P.CRONS_READ,
    ("GET", "/runs/crons/{cron_id}"): P.CRONS_READ,
    ("PATCH", "/runs/crons/{cron_id}"): P.CRONS_WRITE,
    ("DELETE", "/runs/crons/{cron_id}"): P.CRONS_WRITE,
    ("GET", "/.well-known/agent-card.json"): P.ASSISTANTS_READ,
    ("GET", "/a2a/{assistant_id}"): P.ASSISTANTS_READ,
    ("GET", "/a2a/{assistant_id}/.well-known/agent.json"): P.ASSISTANTS_READ,
    ("GET", "/a2a/{assistant_id}/.well-known/agent-card.json"): P.ASSISTANTS_READ,
    ("DELETE", "/a2a/{assistant_id}"): P.RUNS_WRITE,
    ("POST", "/a2a/{assistant_id}/"): P.RUNS_WRITE,
    ("POST", "/a2a/{assistant_id}"): P.RUNS_WRITE,
    ("GET", "/mcp"): P.RUNS_WRITE,
    ("DELETE", "/mcp"): P.RUNS_WRITE,
    ("POST", "/mcp"): P.RUNS_WRITE,
    ("POST", "/events"): P.EVENTS_WRITE,
    ("POST", "/events/subscriptions"): P.EVENTS_WRITE,
    ("GET", "/events/subscriptions"): P.EVENTS_READ,
    ("GET", "/events/subscriptions/{subscription_id}"): P.EVENTS_READ,
    ("PATCH", "/events/subscriptions/{subscription_id}"): P.EVENTS_WRITE,
    ("DELETE", "/events/subscriptions/{subscription_id}"): P.EVENTS_WRITE,
}


def route_operations(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every API route of an app, included routers flattened (HEAD left out)."""
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(list(routes)):
        route = context.original_route
        if isinstance(route, APIRoute):
            methods = sorted(route.methods or ())
            found.extend((method, str(context.path)) for method in methods if method != "HEAD")
    return found


def _unguarded(routes: Iterable[BaseRoute]) -> list[str]:
    """Routes no `authorize` dependency guards (FastAPI's own, mounts) that are not PUBLIC."""
    found = []
    for context in iter_route_contexts(list(routes)):
        route = context.original_route
        if isinstance(route, APIRoute):
            continue
        if isinstance(route, Route):
            methods = sorted((route.methods or {"GET"}) - {"HEAD"})
            if all(ROUTE_PERMISSIONS.get((m, str(context.path)), False) is PUBLIC for m in methods):
                continue
        found.append(str(context.path))
    return found


def check_declared(routes: Iterable[BaseRoute]) -> None:
    """Raise if a mounted API route has no entry in ROUTE_PERMISSIONS, or if a route outside the
    API routers (which `authorize` does not guard) is not PUBLIC."""
    routes = list(routes)
    missing = [op for op in route_operations(routes) if op not in ROUTE_PERMISSIONS]
    if missing:
        raise RuntimeError(f"routes without a declared permission: {missing}")
    unguarded = _unguarded(routes)
    if unguarded:
        raise RuntimeError(f"routes outside the key check: {unguarded}")


@dataclass
class Gate:
    """What `authorize` works with, built once by router.main's lifespan."""

    services: Services
    authenticator: Authenticator | None
    """None: auth is off (`langopen dev` without `--auth`); every caller may do everything."""
    limiter: FailureLimiter
    _deployments: dict[str, accounts.Deployment] = field(default_factory=dict)
    _ensured: set[str] = field(default_factory=set)
    _custom: dict[str, CustomAuth | None] = field(default_factory=dict)

    async def deployment(self, name: str) -> accounts.Deployment:
        found = self._deployments.get(name)
        if found is None:
            found = await accounts.deployment_by_name(self.services.pool, name)
            if found is None:
                raise errors.NotFoundError(f"Deployment '{name}' not found")
            self.services.functions.register(
                found.deployment_id, (found.function_url, found.agent_deployment)
            )
            self._deployments[name] = found
        return found

    async def custom_auth(self, deployment: accounts.Deployment) -> CustomAuth | None:
        """Custom auth of the deployment's app (`auth.path`; its handlers run in its function service)."""
        if deployment.deployment_id not in self._custom:
            app = await self.services.apps.ensure(deployment)
            custom = None
            if app.auth.path:
                client = await self.services.functions.for_deployment(deployment.deployment_id)
                custom = CustomAuth(app.auth, client)
            self._custom[deployment.deployment_id] = custom
        return self._custom[deployment.deployment_id]

    async def ensure_assistants(self, deployment: accounts.Deployment) -> None:
        """The deployment's system assistants exist (once per deployment and process)."""
        if deployment.deployment_id not in self._ensured:
            await assistants_service.ensure_system_assistants(self.services)
            self._ensured.add(deployment.deployment_id)


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


async def _authenticate(gate: Gate, custom: CustomAuth | None, request: Request) -> Principal:
    if custom is not None and not takes_studio_path(custom.section, request.headers):
        return await _authenticate_custom(gate, custom, request)
    if gate.authenticator is None:
        return ANONYMOUS if custom is None else custom.principal(studio_user(None), base=ANONYMOUS)
    client = _client(request)
    prefix = keys.prefix_of(request.headers.get(API_KEY_HEADER, "").strip())
    await gate.limiter.check(client, prefix)
    try:
        principal = await gate.authenticator.authenticate(request.headers)
    except errors.UnauthorizedError as exc:
        refused_prefix = exc.prefix if isinstance(exc, KeyRefusedError) else None
        await _refused(gate, client, refused_prefix, exc.message)
        raise
    return principal if custom is None else custom.principal(studio_user(principal), base=principal)


async def _refused(gate: Gate, client: str | None, prefix: str | None, reason: str) -> None:
    await gate.limiter.record_failure(client, prefix)
    actor = audit.Actor(
        identity=f"key:{prefix}" if prefix else "anonymous", key_id=None, project_id=None, client=client
    )
    await audit.record(gate.services.pool, actor, "auth.login", outcome="refused", details={"reason": reason})


async def _authenticate_custom(gate: Gate, custom: CustomAuth, request: Request) -> Principal:
    """The function service's `@auth.authenticate` handler decides (docs/decisions/0011)."""
    client = _client(request)
    await gate.limiter.check(client, None)
    peer = request.client
    try:
        user = await custom.authenticate(
            method=request.method,
            path=request.scope["path"],
            query_string=request.url.query,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            client=(peer.host, peer.port) if peer is not None else None,
        )
    except errors.AuthHandlerRefusedError as exc:
        if exc.status in (401, 403):
            await _refused(gate, client, None, exc.message)
        raise
    return custom.principal(user)


async def authorize(request: Request) -> Principal:
    """Authenticate, resolve the deployment, check the route's permission; act for the deployment."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if path is None:  # no route matched (a 404 or 405 on its way): the URL, built only then
        path = request.url.path
    permission = ROUTE_PERMISSIONS.get((request.method, path), Permission.SYSTEM_READ)
    if permission is PUBLIC:
        return ANONYMOUS
    return await _authorize(request, permission)


async def authorize_custom_route(request: Request) -> Principal:
    """A custom route (`http.app`) when `http.enable_custom_route_auth` is on: any valid key of the
    project that owns the deployment (`CUSTOM_ROUTE_PERMISSION`, which every role has)."""
    return await _authorize(request, CUSTOM_ROUTE_PERMISSION)


async def _authorize(request: Request, permission: Permission) -> Principal:
    gate: Gate = request.app.state.gate
    name = request.scope.get(DEPLOYMENT_SCOPE_KEY) or gate.services.settings.default_deployment
    try:
        deployment: accounts.Deployment | None = await gate.deployment(name)
    except errors.NotFoundError:
        deployment = None  # authenticate first (API keys), then answer 404
    custom = await gate.custom_auth(deployment) if deployment is not None else None
    principal = await _authenticate(gate, custom, request)
    if deployment is None:
        raise errors.NotFoundError(f"Deployment '{name}' not found")
    if principal.project_id is not None and principal.project_id != deployment.project_id:
        raise errors.ForbiddenError(f"Forbidden: this key's project does not own deployment '{name}'")
    if not principal.may(permission):
        raise errors.ForbiddenError(f"Forbidden: role '{principal.role}' lacks permission '{permission}'")
    tenancy.set_deployment(deployment.deployment_id)
    await gate.ensure_assistants(deployment)
    user = principal.auth_user
    access.install(custom.authorizer(user) if custom is not None and user is not None else None)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authorize)]
Authorized = Depends(authorize)


def actor(request: Request) -> audit.Actor:
    """Who made this (authorized) request, for the audit log."""
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    return audit.Actor(
        identity=principal.identity,
        key_id=principal.key_id,
        project_id=principal.project_id,
        client=_client(request),
    )


class Auditor:
    """Writes to the audit log what the request it belongs to did: who (the authorized principal and
    key id), from where (client address), for which deployment; `record` adds what and the target."""

    def __init__(self, request: Request) -> None:
        self._request = request

    async def record(self, action: str, *, target: str | None, details: dict[str, Any] | None = None) -> None:
        services: Services = self._request.app.state.services
        await audit.record(
            services.pool,
            actor(self._request),
            action,
            target=target,
            deployment_id=tenancy.deployment_id(),
            details=details,
        )


async def get_auditor(request: Request) -> Auditor:
    return Auditor(request)


AuditorDep = Annotated[Auditor, Depends(get_auditor)]


async def path_prefix(request: Request) -> str:
    """The deployment prefix (`/d/{name}`) DeploymentPrefix stripped from the request's path, or "":
    what paths the router answers with (a run's `Location`) start with."""
    return str(request.scope.get(PATH_PREFIX_SCOPE_KEY, ""))


PathPrefixDep = Annotated[str, Depends(path_prefix)]


class DeploymentPrefix:
    """Record the deployment a request names (host or `/d/{name}` prefix) in its scope; strip the
    prefix so the routes match as if the deployment were served at `/`."""

    def __init__(self, app: ASGIApp, *, base_domain: str | None, path_prefix: bool) -> None:
        self.app = app
        self._suffix = f".{base_domain.lower().strip('.')}" if base_domain else None
        self._path_prefix = path_prefix

    def _from_host(self, scope: Scope) -> str | None:
        if self._suffix is None:
            return None
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").split(":", 1)[0].lower()
                if host.endswith(self._suffix) and "." not in host[: -len(self._suffix)]:
                    return host[: -len(self._suffix)] or None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        named = self._from_host(scope)
        path: str = scope["path"]
        if self._path_prefix and path.startswith("/d/"):
            name, _, rest = path[3:].partition("/")
            scope = dict(scope)
            scope["path"] = "/" + rest
            raw: Any = scope.get("raw_path")
            if raw is not None:
                scope["raw_path"] = b"/" + raw[len(b"/d/") + len(name.encode()) :].lstrip(b"/")
            named = name
            scope[PATH_PREFIX_SCOPE_KEY] = f"/d/{name}"
        if named is not None:
            scope = dict(scope)
            scope[DEPLOYMENT_SCOPE_KEY] = named
        await self.app(scope, receive, send)
