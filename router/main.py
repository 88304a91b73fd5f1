"""Build the router app. The lifespan opens, in order: Postgres pool, Redis, pub/sub broker, function
client, system assistants, dispatcher, reaper, cron scheduler, webhook deliverer; and closes them in
reverse (the deliverer gives calls in flight their timeout, the dispatcher drains).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis

from contracts import app_config, gc_policy
from contracts.queue import Keys
from router import errors as errors_mod
from router.api import a2a as a2a_api
from router.api import assistants, errors, runs, stateless, system, thread_stream, threads
from router.api import auth as auth_api
from router.api import crons as crons_api
from router.api import direct as direct_api
from router.api import events as events_api
from router.api import http_app as http_app_api
from router.api import mcp as mcp_api
from router.api import store as store_api
from router.api.openapi import document as openapi_document
from router.auth.limits import FailureLimiter
from router.auth.principals import ApiKeyAuthenticator
from router.dispatch.client import FunctionClient, FunctionClients, FunctionSpec, MakeTarget, ResolveFunction
from router.dispatch.proxy import HttpAppProxy
from router.dispatch.targets import FunctionTarget, StaticTarget
from router.dispatch.webhooks import WebhookClient
from router.queue.broker import Broker
from router.services import assistants as assistants_service
from router.services.apps import App, Apps
from router.services.context import Services
from router.services.dispatcher import Dispatcher
from router.services.reaper import Reaper
from router.services.scheduler import Scheduler
from router.services.webhooks import Deliverer
from router.settings import RouterSettings
from router.store import accounts
from router.store import pool as pool_store

log = logging.getLogger(__name__)


def _function_of(pool: pool_store.Pool) -> ResolveFunction:
    async def resolve(deployment_id: str) -> FunctionSpec:
        deployment = await accounts.deployment_by_id(pool, deployment_id)
        return (deployment.function_url, deployment.agent_deployment) if deployment else (None, None)

    return resolve


REDIS_SOCKET_TIMEOUT_SECONDS = 10.0


def static_targets(url: str | None, agent_deployment: str | None) -> FunctionTarget:
    """Deployments' own function services by URL only (`langopen dev`, tests): an AgentDeployment
    needs a cluster (`python -m router` passes its own factory)."""
    if url is None:
        raise errors_mod.UnprocessableError(
            f"deployment function agentdeployment/{agent_deployment}: this router reaches function services by URL only"
        )
    return StaticTarget(url)


def create_app(
    settings: RouterSettings,
    *,
    function_target: FunctionTarget,
    make_target: MakeTarget = static_targets,
    require_auth: bool = True,
) -> FastAPI:
    """The router app; `require_auth=False` (only `langopen dev` without `--auth`) lets anyone in.
    `function_target` serves the router's own deployment(s); `make_target` builds the function target
    of a deployment whose row names its own (docs/decisions/0012)."""
    config = app_config.load_app_config(settings.config_path)
    webhook_headers = config.webhooks.resolved_headers(os.environ)  # fails at startup, not per call
    http_app_proxy = HttpAppProxy(function_target)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with pool_store.open_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=settings.db_command_timeout_seconds,
        ) as pool:
            redis = Redis.from_url(settings.redis_url, socket_timeout=None, socket_connect_timeout=5.0)
            broker = Broker(redis, prefix=settings.redis_prefix)
            await broker.start()
            functions = FunctionClients(
                FunctionClient(function_target, sync_timeout_seconds=settings.function_timeout_seconds),
                resolve=_function_of(pool),
                make_target=make_target,
                sync_timeout_seconds=settings.function_timeout_seconds,
            )
            own_app = App(graph_ids=app_config.graph_ids(config), webhooks=config.webhooks, auth=config.auth)
            services = Services(
                settings=settings,
                pool=pool,
                redis=redis,
                keys=Keys(settings.redis_prefix),
                broker=broker,
                functions=functions,
                apps=Apps(own_app, functions=functions, pool=pool),
            )
            await assistants_service.ensure_system_assistants(services)
            dispatcher = Dispatcher(services)
            services.kick_dispatcher = dispatcher.kick
            services.dispatch_here = dispatcher
            reaper = Reaper(services)
            scheduler = Scheduler(services)
            services.kick_scheduler = scheduler.kick
            webhook_client = WebhookClient(
                config.webhooks.url,
                headers=webhook_headers,
                secret=settings.webhook_secret,
                timeout_seconds=settings.webhook_timeout_seconds,
            )
            deliverer = Deliverer(services, webhook_client)
            services.kick_webhooks = deliverer.kick
            app.state.services = services
            app.state.gate = auth_api.Gate(
                services=services,
                authenticator=ApiKeyAuthenticator(
                    pool, last_used_resolution_seconds=settings.key_last_used_resolution_seconds
                )
                if require_auth
                else None,
                limiter=FailureLimiter(
                    redis,
                    services.keys,
                    limit=settings.auth_failures_per_window,
                    window_seconds=settings.auth_failure_window_seconds,
                ),
            )
            await dispatcher.start()
            await reaper.start()
            await scheduler.start()
            await deliverer.start()
            try:
                # Everything is imported and open: the collector stops walking it (contracts.gc_policy).
                with gc_policy.serving():
                    yield
            finally:
                await deliverer.stop()
                await webhook_client.aclose()
                await scheduler.stop()
                await reaper.stop()
                await dispatcher.stop(drain_seconds=settings.shutdown_drain_seconds)
                await http_app_proxy.aclose()
                await functions.aclose()
                await broker.close()
                await redis.aclose()

    app = FastAPI(
        title="LangOpen Agent Server",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # router.api.system serves /docs, listed in the schema
        redoc_url=None,  # and /redoc, behind the key check like every route but the public ones
        openapi_url="/openapi.json",
    )
    errors.install(app)
    for module in (
        system,
        assistants,
        threads,
        thread_stream,
        runs,
        stateless,
        store_api,
        crons_api,
        a2a_api,
        mcp_api,
        events_api,
    ):
        app.include_router(
            http_app_api.enabled_routes(module.router, config.http), dependencies=[auth_api.Authorized]
        )
    auth_api.check_declared(app.routes)
    # The official document for the official operations (router.api.openapi), built below once the
    # route table is final; set first so that custom routes' schema (http_app) is merged into it.
    served_openapi: dict[str, Any] = {}
    app.openapi = lambda: served_openapi  # type: ignore[method-assign]  # FastAPI's documented override
    if settings.direct_routes:  # innermost: the busiest operations without FastAPI's routing
        app.add_middleware(direct_api.DirectRoutes, fastapi=app)
    http_app_api.install(app, config.http, proxy=http_app_proxy)
    # Outermost to innermost: CORS, the deployment a request names (its /d/{name} prefix stripped),
    # custom routes (which then see the deployment and the stripped path), the direct routes, the API.
    app.add_middleware(
        auth_api.DeploymentPrefix,
        base_domain=settings.deployment_base_domain,
        path_prefix=settings.deployment_path_prefix,
    )
    http_app_api.install_cors(app, config.http)
    served_openapi.update(
        openapi_document.build(
            app.routes, graph_ids=app_config.graph_ids(config), title=app.title, version=app.version
        )
    )
    if config.auth.openapi:  # `auth.openapi`: how clients authenticate, as the user documents it
        served_openapi.setdefault("components", {}).setdefault("securitySchemes", {}).update(
            config.auth.openapi.get("securitySchemes", {})
        )
        if "security" in config.auth.openapi:
            served_openapi["security"] = config.auth.openapi["security"]
    return app
