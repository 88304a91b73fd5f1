"""The function's Redis client (functions.app.redis_client) writes each command in the step of the
task that sends it, so it has no socket timeout; the publisher bounds each of its commands instead:
a Redis that stops answering fails an attempt's start check with Redis' own TimeoutError, and frames
sent later are counted lost, instead of holding the attempt forever."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from contracts.queue import Keys
from functions.app import redis_client
from functions.publish import StreamPublisher
from functions.settings import FunctionSettings
from tests.functions.conftest import CONFIG_PATH

TIMEOUT_SECONDS = 0.3


async def test_a_command_is_written_before_any_other_task_runs(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = FunctionSettings(
        database_url="postgresql://unused/x", redis_url=redis_url, config_path=CONFIG_PATH
    )
    redis = redis_client(settings)
    order: list[str] = []
    writelines = asyncio.StreamWriter.writelines

    def observed_writelines(writer: asyncio.StreamWriter, data: Any) -> None:
        order.append("command written")
        writelines(writer, data)

    async def other_task() -> None:
        order.append("other task ran")

    try:
        await redis.ping()  # connected
        monkeypatch.setattr(asyncio.StreamWriter, "writelines", observed_writelines)
        command = asyncio.ensure_future(redis.get("langopen-test-eager"))
        other = asyncio.ensure_future(other_task())
        await asyncio.gather(command, other)
    finally:
        await redis.aclose()
    assert order == ["command written", "other task ran"]


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and reads them, and never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


def _publisher(redis: Redis) -> StreamPublisher:
    return StreamPublisher(
        redis,
        Keys("langopen-test-timeout"),
        run_id="run",
        thread_id="thread",
        resumable=False,
        ttl_seconds=60,
        timeout_seconds=TIMEOUT_SECONDS,
    )


async def test_a_silent_redis_fails_the_start_check_within_the_timeout(silent_redis: str) -> None:
    settings = FunctionSettings(
        database_url="postgresql://unused/x", redis_url=silent_redis, config_path=CONFIG_PATH
    )
    redis = redis_client(settings)
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await _publisher(redis).open("metadata", b"{}", read_key="cancel")
        assert TIMEOUT_SECONDS <= time.monotonic() - started < TIMEOUT_SECONDS + 2
    finally:
        await redis.aclose()


@pytest.fixture
async def freezable_redis(redis_url: str) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A TCP proxy on 127.0.0.1 to the tests' Redis; once the event is set it stops passing the
    clients' bytes on (Redis never sees them, so never answers)."""
    upstream = Redis.from_url(redis_url).connection_pool.connection_kwargs
    frozen = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool) -> None:
        while data := await reader.read(65536):
            if not (from_client and frozen.is_set()):
                writer.write(data)
                await writer.drain()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if "path" in upstream:
            redis_reader, redis_writer = await asyncio.open_unix_connection(upstream["path"])
        else:
            redis_reader, redis_writer = await asyncio.open_connection(upstream["host"], upstream["port"])
        writers.extend([client_writer, redis_writer])
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(
                pump(client_reader, redis_writer, from_client=True),
                pump(redis_reader, client_writer, from_client=False),
            )

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = upstream.get("db", 0)
    try:
        yield f"redis://127.0.0.1:{port}/{db}", frozen
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_frames_a_silent_redis_does_not_take_are_counted_lost(
    freezable_redis: tuple[str, asyncio.Event],
) -> None:
    url, frozen = freezable_redis
    settings = FunctionSettings(database_url="postgresql://unused/x", redis_url=url, config_path=CONFIG_PATH)
    redis = redis_client(settings)
    publisher = _publisher(redis)
    try:
        assert await publisher.open("metadata", b"{}", read_key="cancel") is None  # Redis answers
        frozen.set()
        started = time.monotonic()
        publisher.put("values", b"{}")
        publisher.put("values", b"{}")
        await publisher.aclose()
        assert publisher.frames_lost == 2
        assert time.monotonic() - started < TIMEOUT_SECONDS + 2
    finally:
        await redis.aclose()
