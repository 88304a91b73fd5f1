"""Fixtures for the function runtime: the test graphs, a real executor, and frame collectors.

`executor` runs against a fresh Postgres database (LangGraph tables migrated) and the test's Redis
prefix. `Collector` subscribes to a pub/sub channel before a run starts and, after the run, reads
up to a sentinel the test publishes itself — Redis delivers a channel's messages in the order it
executed the PUBLISHes, so every frame of the run arrives before the sentinel.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from contracts.frames import Frame
from contracts.ids import system_assistant_id, uuid7
from contracts.queue import Keys
from contracts.runtime import RunRequest
from functions.app import create_app
from functions.cancel import ControlListener
from functions.checkpoints import open_persistence
from functions.execute import Executor
from functions.graphs import GraphRegistry, load_graph_values
from functions.settings import FunctionSettings

CONFIG_PATH = Path(__file__).parent / "langgraph.json"


@asynccontextmanager
async def function_client(
    pg_dsn: str, redis_url: str, config_path: Path = CONFIG_PATH
) -> AsyncIterator[httpx.AsyncClient]:
    """The function app serving `config_path`, its lifespan running, called over ASGI."""
    settings = FunctionSettings(database_url=pg_dsn, redis_url=redis_url, config_path=config_path)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://function") as client,
    ):
        yield client


SENTINEL = "__test_end__"


class Collector:
    """Frames published on one channel, decoded with contracts.frames."""

    def __init__(self, pubsub: PubSub, channel: str, redis: Redis) -> None:
        self._pubsub = pubsub
        self._redis = redis
        self.channel = channel
        self.frames: list[Frame] = []

    async def next_frame(self, wait_seconds: float = 5.0) -> Frame:
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_seconds)
        assert message is not None, f"no frame on {self.channel} within {wait_seconds}s"
        frame = Frame.decode_pubsub(message["data"])
        self.frames.append(frame)
        return frame

    async def wait_for(self, event: str, wait_seconds: float = 5.0) -> Frame:
        while True:
            frame = await self.next_frame(wait_seconds)
            if frame.event == event:
                return frame

    async def drain(self) -> list[Frame]:
        """Every frame published before this call, in order (the sentinel excluded)."""
        await self._redis.publish(self.channel, Frame(event=SENTINEL, data=b"{}").encode_pubsub())
        while (await self.next_frame()).event != SENTINEL:
            pass
        self.frames.pop()
        return self.frames

    def events(self) -> list[str]:
        return [f.event for f in self.frames]

    def payloads(self, event: str) -> list[Any]:
        return [orjson.loads(f.data) for f in self.frames if f.event == event]


Subscribe = Callable[[str], Awaitable[Collector]]
"""The `subscribe` fixture: a Collector subscribed to a channel (confirmed) before it returns."""
MakeRequest = Callable[..., RunRequest]
"""The `make_request` fixture: `make(graph_id="agent", **fields)` builds a RunRequest for the test thread."""


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    leftovers = [key async for key in client.scan_iter(f"{redis_prefix}:*")]
    if leftovers:
        await client.delete(*leftovers)
    await client.aclose()


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


@pytest.fixture
async def subscribe(redis: Redis) -> AsyncIterator[Subscribe]:
    pubsubs: list[PubSub] = []

    async def open_collector(channel: str) -> Collector:
        pubsub = redis.pubsub()
        pubsubs.append(pubsub)
        await pubsub.subscribe(channel)
        confirmed = await pubsub.get_message(timeout=5)
        assert confirmed is not None
        assert confirmed["type"] == "subscribe"
        return Collector(pubsub, channel, redis)

    yield open_collector
    for pubsub in pubsubs:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def graph_values() -> dict[str, Any]:
    return load_graph_values(CONFIG_PATH)


@pytest.fixture
async def executor(pg_dsn: str, redis: Redis, graph_values: dict[str, Any]) -> AsyncIterator[Executor]:
    async with open_persistence(pg_dsn, max_size=4) as db:
        control = ControlListener(redis)
        # Runs' own checkpointer, as functions.app gives the executor.
        registry = GraphRegistry(graph_values, checkpointer=db.run_checkpointer, store=db.store)
        try:
            yield Executor(graphs=registry, redis=redis, control=control)
        finally:
            await control.aclose()


@pytest.fixture
def thread_id() -> str:
    return str(uuid7())


@pytest.fixture
def make_request(redis_prefix: str, thread_id: str) -> MakeRequest:
    """A RunRequest for `graph_id` on the test's thread; keyword arguments override fields."""

    def make(graph_id: str = "agent", **fields: Any) -> RunRequest:
        base: dict[str, Any] = {
            "run_id": str(uuid7()),
            "thread_id": thread_id,
            "assistant_id": system_assistant_id(graph_id),
            "graph_id": graph_id,
            "attempt": 1,
            "redis_prefix": redis_prefix,
        }
        return RunRequest(**(base | fields))

    return make


@pytest.fixture(autouse=True)
def _no_env_leak() -> Iterator[None]:
    # load_graph_values applies langgraph.json `env`; keep os.environ as each test found it.
    before = dict(os.environ)
    yield
    for key in set(os.environ) - set(before):
        del os.environ[key]
