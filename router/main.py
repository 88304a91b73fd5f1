"""Build the router app. The lifespan opens, in order: Postgres pool, Redis, pub/sub broker, function
client, system assistants, dispatcher, reaper; and closes them in reverse (dispatcher drains first).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from contracts import app_config
from contracts.queue import Keys
from router.api import assistants, errors, runs, stateless, system, thread_stream, threads
from router.dispatch.client import FunctionClient
from router.dispatch.targets import FunctionTarget
from router.queue.broker import Broker
from router.services import assistants as assistants_service
from router.services.context import Services
from router.services.dispatcher import Dispatcher
from router.services.reaper import Reaper
from router.settings import RouterSettings
from router.store import pool as pool_store

log = logging.getLogger(__name__)

REDIS_SOCKET_TIMEOUT_SECONDS = 10.0


def create_app(settings: RouterSettings, *, function_target: FunctionTarget) -> FastAPI:
    config = app_config.load_app_config(settings.config_path)

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
            functions = FunctionClient(
                function_target, sync_timeout_seconds=settings.function_timeout_seconds
            )
            services = Services(
                settings=settings,
                pool=pool,
                redis=redis,
                keys=Keys(settings.redis_prefix),
                broker=broker,
                functions=functions,
                graph_ids=app_config.graph_ids(config),
            )
            await assistants_service.ensure_system_assistants(services)
            dispatcher = Dispatcher(services)
            services.kick_dispatcher = dispatcher.kick
            services.dispatch_here = dispatcher
            reaper = Reaper(services)
            app.state.services = services
            await dispatcher.start()
            await reaper.start()
            try:
                yield
            finally:
                await reaper.stop()
                await dispatcher.stop()
                await functions.aclose()
                await broker.close()
                await redis.aclose()

    app = FastAPI(
        title="LangOpen Agent Server",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    errors.install(app)
    for module in (system, assistants, threads, thread_stream, runs, stateless):
        app.include_router(module.router)
    return app
