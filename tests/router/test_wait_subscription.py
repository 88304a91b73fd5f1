"""A waiter for a run's output (runs.wait, join) subscribes to the run's channel while the run is
created; when this replica's own dispatcher takes the run, the run is created and started without
waiting for Redis to confirm that subscription (its done frame is delivered in this process,
Broker.deliver_local). A stream subscriber still needs the confirmation before the run exists.
Real router services, dispatcher and function service over Postgres and Redis; Redis' confirmation
is held back by a gate around the broker's SUBSCRIBE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from router.api import runs as runs_api
from router.api import stream as relay
from router.requests import RunCreateStateful
from router.services.dispatcher import Dispatcher
from tests.router.conftest import Env

WAIT_SECONDS = 20.0
POLL_SECONDS = 0.02


@pytest.fixture
async def dispatching(fn_env: Env) -> AsyncIterator[Env]:
    dispatcher = Dispatcher(fn_env.services)
    fn_env.services.dispatch_here = dispatcher
    fn_env.services.kick_dispatcher = dispatcher.kick
    await dispatcher.start()
    try:
        yield fn_env
    finally:
        await dispatcher.stop()


def _gate_subscriptions(env: Env, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    gate = asyncio.Event()
    broker = env.services.broker
    real: Callable[..., Awaitable[None]] = broker._subscribe_raw

    async def gated(channel: bytes, *, wait: bool) -> None:
        await gate.wait()
        await real(channel, wait=wait)

    monkeypatch.setattr(broker, "_subscribe_raw", gated)
    return gate


async def _status(env: Env, run_id: str) -> str | None:
    status: str | None = await env.services.pool.fetchval("SELECT status FROM runs WHERE run_id = $1", run_id)
    return status


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(int(WAIT_SECONDS / POLL_SECONDS)):
        if await check():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"not true after {WAIT_SECONDS} s")


async def _new_thread(env: Env) -> str:
    thread_id: str = (await env.client.post("/threads", json={})).json()["thread_id"]
    return thread_id


def _body() -> RunCreateStateful:
    return RunCreateStateful.model_validate({"assistant_id": "agent", "input": {"messages": []}})


async def test_a_local_waiters_run_starts_before_redis_confirms_and_its_output_arrives(
    dispatching: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = dispatching
    thread_id = await _new_thread(env)
    gate = _gate_subscriptions(env, monkeypatch)
    creating = asyncio.create_task(runs_api.create_subscribed(env.services, _body(), thread_id, local=True))

    async def finished() -> bool:
        row = await env.services.pool.fetchrow(
            "SELECT run_id, status FROM runs WHERE thread_id = $1", thread_id
        )
        return row is not None and row["status"] == "success"

    await _until(finished)  # created, dispatched and finished while the subscription is unconfirmed
    assert not creating.done()  # the caller still gets its confirmed subscription before answering
    gate.set()
    created, subscription, sub = await asyncio.wait_for(creating, WAIT_SECONDS)
    chunks: list[bytes] = []
    try:
        async for chunk in relay.wait_output(
            sub, heartbeat=WAIT_SECONDS, fetch_output=_unexpected, is_finished=_unexpected
        ):
            chunks.append(chunk)
    finally:
        await subscription.__aexit__(None, None, None)
    output: Any = orjson.loads(bytes(chunks[-1]))
    assert isinstance(output, dict)
    assert await _status(env, created.run["run_id"]) == "success"


async def _unexpected() -> Any:
    raise AssertionError("the done frame should have been delivered locally, before any keep-alive")


async def test_a_stream_subscriber_is_confirmed_before_its_run_exists(
    dispatching: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = dispatching
    thread_id = await _new_thread(env)
    gate = _gate_subscriptions(env, monkeypatch)
    creating = asyncio.create_task(runs_api.create_subscribed(env.services, _body(), thread_id))
    await asyncio.sleep(0.3)
    runs = await env.services.pool.fetchval("SELECT count(*) FROM runs WHERE thread_id = $1", thread_id)
    assert runs == 0
    gate.set()
    created, subscription, _ = await asyncio.wait_for(creating, WAIT_SECONDS)
    await subscription.__aexit__(None, None, None)

    async def done() -> bool:
        return await _status(env, created.run["run_id"]) == "success"

    await _until(done)
