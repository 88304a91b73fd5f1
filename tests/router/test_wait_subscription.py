"""A waiter for a new run's output (runs.wait) whose run this replica's own dispatcher takes never
subscribes on Redis: its done frame is delivered in this process (Broker.deliver_local). A waiter
whose run waits behind the thread's current run subscribes on Redis right after creating it, and a
stream subscriber before its run exists. Real router services, dispatcher and function service over
Postgres and Redis; the broker's SUBSCRIBEs are recorded, and held back by a gate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
import pytest

from router.api import runs as runs_api
from router.api import stream as relay
from router.queue.broker import Subscription
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


def _gate_subscriptions(
    env: Env, monkeypatch: pytest.MonkeyPatch, asked: list[bytes] | None = None
) -> asyncio.Event:
    """Hold every SUBSCRIBE until the gate opens; `asked` records the channels."""
    gate = asyncio.Event()
    broker = env.services.broker
    real: Callable[..., Awaitable[None]] = broker._subscribe_raw

    async def gated(channel: bytes, *, wait: bool) -> None:
        if asked is not None:
            asked.append(channel)
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


async def test_a_local_waiter_of_a_run_started_here_never_subscribes_on_redis(
    dispatching: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = dispatching
    thread_id = await _new_thread(env)
    asked: list[bytes] = []
    _gate_subscriptions(env, monkeypatch, asked)  # never opened: a SUBSCRIBE would hang the waiter
    created, subscription, sub = await asyncio.wait_for(
        runs_api.create_subscribed(env.services, _body(), thread_id, local=True), WAIT_SECONDS
    )
    assert created.started_here
    output = await _delivered_output(subscription, sub)
    assert output["items"] == ["a", "b"]
    assert await _status(env, created.run["run_id"]) == "success"
    assert asked == []


async def test_a_local_waiter_of_a_queued_run_subscribes_on_redis_once_it_is_created(
    dispatching: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run waits behind the thread's running one, so any replica may run it: the waiter hears
    its done frame through Redis, subscribed before the thread's current run has ended."""
    env = dispatching
    thread_id = await _new_thread(env)
    slow = RunCreateStateful.model_validate({"assistant_id": "agent", "input": {"delay": 1.0}})
    first, first_subscription, _ = await runs_api.create_subscribed(env.services, slow, thread_id, local=True)
    await first_subscription.__aexit__(None, None, None)
    asked: list[bytes] = []
    gate = _gate_subscriptions(env, monkeypatch, asked)
    creating = asyncio.create_task(runs_api.create_subscribed(env.services, _body(), thread_id, local=True))

    async def queued() -> bool:
        found = await env.services.pool.fetchval("SELECT count(*) FROM runs WHERE thread_id = $1", thread_id)
        return bool(found == 2)

    await _until(queued)
    await asyncio.sleep(0.1)
    assert not creating.done()  # created, and waiting for Redis to confirm the subscription
    gate.set()
    created, subscription, sub = await asyncio.wait_for(creating, WAIT_SECONDS)
    assert not created.started_here
    assert asked == [env.services.keys.run_stream_channel(created.run["run_id"]).encode()]
    output = await _delivered_output(subscription, sub)
    assert output["items"] == ["a", "b", "a", "b"]
    assert await _status(env, first.run["run_id"]) == "success"


async def _delivered_output(
    subscription: AbstractAsyncContextManager[Subscription], sub: Subscription
) -> Any:
    """The output the done frame carries (no keep-alive check: it must arrive by itself)."""
    chunks: list[bytes] = []
    try:
        async for chunk in relay.wait_output(
            sub, heartbeat=WAIT_SECONDS, fetch_output=_unexpected, is_finished=_unexpected
        ):
            chunks.append(chunk)
    finally:
        await subscription.__aexit__(None, None, None)
    return orjson.loads(bytes(chunks[-1]))


async def _unexpected() -> Any:
    raise AssertionError("the done frame should have been delivered, before any keep-alive")


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
