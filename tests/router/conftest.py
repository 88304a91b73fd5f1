"""Router API fixtures: the assistant, thread and store routers as router.main wires them, over real
Postgres and Redis, with or without a real function service (functions.app under uvicorn) serving
the end-to-end test app's graphs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from contracts import app_config
from contracts.app_config import WebhooksConfig
from contracts.auth import AuthSection
from contracts.queue import Keys
from functions.app import create_app as create_function_app
from functions.settings import FunctionSettings
from router.api import assistants, errors, threads
from router.api import store as store_api
from router.dispatch.client import FunctionClient, FunctionClients, FunctionSpec
from router.dispatch.targets import StaticTarget
from router.main import static_targets
from router.queue.broker import Broker
from router.services import assistants as assistants_service
from router.services.apps import App, Apps
from router.services.context import Services
from router.settings import RouterSettings
from router.store.pool import open_pool

APP_CONFIG = Path(__file__).parents[1] / "app" / "langgraph.json"
GRAPH_IDS = app_config.graph_ids(app_config.load_app_config(APP_CONFIG))


@dataclass
class Env:
    client: httpx.AsyncClient
    services: Services


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def function_service(pg_dsn: str, redis_url: str) -> AsyncIterator[str]:
    """The real function runtime on a free local port; yields its URL."""
    settings = FunctionSettings(database_url=pg_dsn, redis_url=redis_url, config_path=APP_CONFIG)
    config = uvicorn.Config(
        create_function_app(settings), host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "function service failed to start"
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _no_own_function(deployment_id: str) -> FunctionSpec:
    return (None, None)  # these tests serve only the default deployment


@asynccontextmanager
async def router_app(pg_dsn: str, redis_url: str, redis_prefix: str, function_url: str) -> AsyncIterator[Env]:
    """The assistant and thread routers over real Postgres/Redis, as router.main wires them."""
    settings = RouterSettings.model_validate(
        {
            "DATABASE_URL": pg_dsn,
            "REDIS_URL": redis_url,
            "redis_prefix": redis_prefix,
            "LANGOPEN_CONFIG": APP_CONFIG,
        }
    )
    async with open_pool(pg_dsn, min_size=1, max_size=8, command_timeout=10) as pool:
        redis = Redis.from_url(redis_url)
        broker = Broker(redis, prefix=redis_prefix)
        await broker.start()
        functions = FunctionClients(
            FunctionClient(StaticTarget(function_url), sync_timeout_seconds=20),
            resolve=_no_own_function,
            make_target=static_targets,
            sync_timeout_seconds=20,
        )
        own_app = App(graph_ids=GRAPH_IDS, webhooks=WebhooksConfig(), auth=AuthSection())
        services = Services(
            settings=settings,
            pool=pool,
            redis=redis,
            keys=Keys(redis_prefix),
            broker=broker,
            functions=functions,
            apps=Apps(own_app, functions=functions, pool=pool),
        )
        await assistants_service.ensure_system_assistants(services)
        app = FastAPI()
        errors.install(app)
        app.include_router(assistants.router)
        app.include_router(threads.router)
        app.include_router(store_api.router)
        app.state.services = services
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://router"
            ) as client:
                yield Env(client=client, services=services)
        finally:
            await functions.aclose()
            await broker.close()
            keys = [k async for k in redis.scan_iter(f"{redis_prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


@pytest.fixture
async def env(pg_dsn: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Env]:
    async with router_app(pg_dsn, redis_url, redis_prefix, _closed_port_url()) as env:
        yield env


@pytest.fixture
async def fn_env(pg_dsn: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Env]:
    async with (
        function_service(pg_dsn, redis_url) as url,
        router_app(pg_dsn, redis_url, redis_prefix, url) as env,
    ):
        yield env
