"""Stopping an attempt (cancel via control channel or cancel key, timeout, dispatcher disconnect),
resumable streams, and a retried attempt resuming from its own checkpoint."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import cast

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from contracts.frames import parse_stream_id
from contracts.queue import Keys
from functions.execute import Executor
from tests.functions.conftest import MakeRequest, Subscribe

StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


async def xrange_bytes(redis: Redis, key: str, min: str = "-") -> StreamEntries:
    """XRANGE on the tests' client, which does not decode responses: ids and fields are bytes.
    (redis-py types entries for both modes, as `bytes | str | None`; a cast, no check.)"""
    return cast(StreamEntries, await redis.xrange(key, min=min))


@pytest.mark.parametrize("action", ["interrupt", "rollback"])
async def test_cancel_message_stops_the_run(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, redis: Redis, action: str
) -> None:
    req = make_request(input={"items": ["x"], "delay": 30}, stream_mode=["values"])
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    started = time.monotonic()
    running = asyncio.create_task(executor.run(req))
    await channel.wait_for("values")  # the graph is inside step_a now
    await redis.publish(keys.run_control_channel(req.run_id), action)
    outcome = await running

    assert time.monotonic() - started < 5
    assert outcome.status == "interrupted"
    assert outcome.cancel_action == action
    assert outcome.error is not None
    assert outcome.error.error == ("UserRollback" if action == "rollback" else "UserInterrupt")
    assert outcome.values == {"items": ["x"], "delay": 30}
    await channel.drain()
    assert "error" not in channel.events()


async def test_cancel_key_set_before_start_prevents_the_run(
    executor: Executor,
    subscribe: Subscribe,
    keys: Keys,
    make_request: MakeRequest,
    redis: Redis,
    thread_id: str,
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["values"])
    await redis.set(keys.run_cancel_key(req.run_id), "rollback")
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    outcome = await executor.run(req)
    await channel.drain()

    assert outcome.status == "interrupted"
    assert outcome.cancel_action == "rollback"
    assert outcome.values is None
    assert channel.events() == ["metadata"]
    graph = await executor.graphs.get_graph("agent", {})
    assert (await graph.aget_state({"configurable": {"thread_id": thread_id}})).created_at is None


async def test_a_failed_cancel_check_fails_the_attempt_before_any_step(
    executor: Executor, make_request: MakeRequest, thread_id: str
) -> None:
    """The cancel check goes out while the graph starts; when Redis cannot answer it, the attempt
    fails as a request (the dispatcher retries it) and the graph took no step."""
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1.0)
    blind = Executor(graphs=executor.graphs, redis=unreachable, control=executor.control)
    try:
        with pytest.raises(RedisError):
            await blind.run(make_request(input={"items": ["x"]}))
    finally:
        await unreachable.aclose()
    graph = await executor.graphs.get_graph("agent", {})
    assert (await graph.aget_state({"configurable": {"thread_id": thread_id}})).created_at is None


async def test_cancel_for_another_run_is_ignored(
    executor: Executor, keys: Keys, make_request: MakeRequest, redis: Redis
) -> None:
    req = make_request(input={"items": ["x"], "delay": 0.3})
    running = asyncio.create_task(executor.run(req))
    await asyncio.sleep(0.1)
    await redis.publish(keys.run_control_channel("some-other-run"), "interrupt")
    outcome = await running

    assert outcome.status == "success"


async def test_timeout_ends_the_run_with_status_timeout(
    executor: Executor, make_request: MakeRequest
) -> None:
    started = time.monotonic()
    outcome = await executor.run(make_request(input={"items": ["x"], "delay": 30}, timeout_seconds=0.3))

    assert time.monotonic() - started < 5
    assert outcome.status == "timeout"
    assert outcome.error is not None
    assert outcome.error.error == "TimeoutError"


async def test_process_wide_timeout_applies_too(executor: Executor, make_request: MakeRequest) -> None:
    executor.run_timeout_seconds = 0.3
    outcome = await executor.run(make_request(input={"items": ["x"], "delay": 30}, timeout_seconds=60))

    assert outcome.status == "timeout"


async def test_dispatcher_disconnect_stops_the_attempt(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(input={"items": ["x"], "delay": 0.5}, stream_mode=["updates"])
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    disconnected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.1, disconnected.set_result, None)
    outcome = await executor.run(req, disconnected=disconnected)
    await asyncio.sleep(1.2)  # long enough for both steps, had the graph kept running
    await channel.drain()

    assert outcome.status == "error"
    assert outcome.error is not None
    assert outcome.error.error == "Disconnected"
    assert channel.events() == ["metadata"]


async def test_resumable_frames_are_stored_with_increasing_ids(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, redis: Redis
) -> None:
    req = make_request(
        input={"items": ["x"]},
        stream_mode=["values", "updates", "custom", "tasks", "debug"],
        stream_resumable=True,
        resumable_ttl_seconds=60,
    )
    run_channel = await subscribe(keys.run_stream_channel(req.run_id))
    thread_channel = await subscribe(keys.thread_stream_channel(req.thread_id))
    await executor.run(req)
    live = await run_channel.drain()
    thread_live = await thread_channel.drain()

    ids = [parse_stream_id(f.id or "") for f in live]
    assert all(a < b for a, b in itertools.pairwise(ids))  # strictly increasing, never repeated
    assert any(a[0] == b[0] for a, b in itertools.pairwise(ids))  # same millisecond, new seq
    stored = await xrange_bytes(redis, keys.run_events(req.run_id))
    assert [(entry_id.decode(), f[b"e"].decode(), f[b"d"]) for entry_id, f in stored] == [
        (f.id, f.event, f.data) for f in live
    ]
    thread_stored = await xrange_bytes(redis, keys.thread_events(req.thread_id))
    assert [entry_id.decode() for entry_id, _ in thread_stored] == [f.id for f in thread_live]
    assert [f.event for f in thread_live] == [f.event for f in live]
    assert 0 < await redis.ttl(keys.run_events(req.run_id)) <= 60
    assert 0 < await redis.ttl(keys.thread_events(req.thread_id)) <= 60
    # Replaying after the second frame gives exactly the rest (Last-Event-ID semantics).
    rest = await xrange_bytes(redis, keys.run_events(req.run_id), min=f"({live[1].id}")
    assert [entry_id.decode() for entry_id, _ in rest] == [f.id for f in live[2:]]


async def test_resumable_script_survives_a_script_flush(
    executor: Executor, make_request: MakeRequest, redis: Redis, keys: Keys
) -> None:
    await redis.script_flush()
    req = make_request(input={"items": ["x"]}, stream_mode=["updates"], stream_resumable=True)
    await executor.run(req)

    assert [f[b"e"] for _, f in await xrange_bytes(redis, keys.run_events(req.run_id))] == [
        b"metadata",
        b"updates",
        b"updates",
    ]


async def test_non_resumable_run_stores_nothing(
    executor: Executor, make_request: MakeRequest, redis: Redis, keys: Keys
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["updates"])
    await executor.run(req)

    assert await redis.exists(keys.run_events(req.run_id), keys.thread_events(req.thread_id)) == 0


async def test_retried_attempt_resumes_from_its_own_checkpoint(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, redis: Redis
) -> None:
    first = make_request(input={"items": ["x"], "delay": 0.5}, stream_mode=["updates"], durability="sync")
    channel = await subscribe(keys.run_stream_channel(first.run_id))
    running = asyncio.create_task(executor.run(first))
    await channel.wait_for("updates")  # step_a is done and checkpointed; step_b is sleeping
    await redis.publish(keys.run_control_channel(first.run_id), "interrupt")
    assert (await running).status == "interrupted"

    second = first.model_copy(update={"attempt": 2})
    channel = await subscribe(keys.run_stream_channel(first.run_id))
    outcome = await executor.run(second)
    await channel.drain()

    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "a", "b"], "delay": 0.5}  # input applied once, step_a once
    assert channel.payloads("metadata") == [{"run_id": first.run_id, "attempt": 2}]
    assert channel.payloads("updates") == [{"step_b": {"items": ["b"]}}]


async def test_retried_attempt_without_own_checkpoint_starts_over(
    executor: Executor, make_request: MakeRequest
) -> None:
    await executor.run(make_request(input={"items": ["p"]}))
    outcome = await executor.run(make_request(input={"items": ["x"]}, attempt=2))

    assert outcome.values == {"items": ["p", "a", "b", "x", "a", "b"]}


async def test_metadata_frame_is_first_and_compact(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["values"], attempt=3)
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    await executor.run(req)
    await channel.drain()

    assert channel.frames[0].event == "metadata"
    assert channel.frames[0].data == orjson.dumps({"run_id": req.run_id, "attempt": 3})


async def test_retried_command_is_not_applied_twice(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, redis: Redis
) -> None:
    await executor.run(make_request(input={"items": ["x"], "delay": 0.5}))
    first = make_request(
        command={"update": {"items": ["u"]}, "goto": "step_a"}, stream_mode=["tasks"], durability="sync"
    )
    channel = await subscribe(keys.run_stream_channel(first.run_id))
    running = asyncio.create_task(executor.run(first))
    while (await channel.wait_for("tasks")).data.find(b'"name":"step_b"') < 0:
        pass  # step_b started: the checkpoint this run wrote after step_a is stored
    await redis.publish(keys.run_control_channel(first.run_id), "interrupt")
    assert (await running).status == "interrupted"

    outcome = await executor.run(first.model_copy(update={"attempt": 2}))

    # Attempt 2 continues at step_b; re-sending the command would add "u" and run step_a again.
    assert outcome.values == {"items": ["x", "a", "b", "u", "a", "b"], "delay": 0.5}


@pytest.mark.parametrize("linger", [0.0, 0.2])
async def test_lingering_batches_keep_every_frame_in_order(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, linger: float
) -> None:
    executor.stream_linger_seconds = linger
    req = make_request(
        input={"items": ["x"]}, stream_mode=["values", "updates", "tasks"], stream_resumable=True
    )
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    started = time.monotonic()
    await executor.run(req)
    elapsed = time.monotonic() - started
    await channel.drain()

    assert elapsed < 0.2  # the final frames are sent at once, not after the linger
    step = ["tasks", "updates", "tasks", "values"]
    assert channel.events() == ["metadata", "values", *step, *step]
    ids = [parse_stream_id(f.id or "") for f in channel.frames]
    assert ids == sorted(set(ids))


async def test_a_runs_last_frames_leave_while_its_checkpoints_are_still_written(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest, pg_dsn: str
) -> None:
    """Once the graph is done, its queued frames go out at once, not after the run's checkpoint
    writes (held here by a table lock) and not after the linger; the run ends once those are in."""
    executor.stream_linger_seconds = 30.0
    req = make_request(input={"items": ["x"]}, stream_mode=["values"])
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    blocker = await asyncpg.connect(pg_dsn)
    try:
        locked = blocker.transaction()
        await locked.start()
        await blocker.execute("LOCK TABLE checkpoints IN EXCLUSIVE MODE")  # reads go on, writes wait
        running = asyncio.create_task(executor.run(req))
        while len(channel.payloads("values")) < 3:
            await channel.next_frame(wait_seconds=5.0)
        assert not running.done()
        await locked.rollback()
        outcome = await running
    finally:
        await blocker.close()
    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "a", "b"]}


async def test_lingering_frames_are_sent_while_the_run_goes_on(
    executor: Executor, subscribe: Subscribe, keys: Keys, make_request: MakeRequest
) -> None:
    executor.stream_linger_seconds = 0.05
    req = make_request(input={"items": ["x"], "delay": 0.5}, stream_mode=["updates"])
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    running = asyncio.create_task(executor.run(req))
    await channel.wait_for("updates", wait_seconds=0.9)  # step_a's update, during step_b's sleep

    assert not running.done()
    assert (await running).status == "success"
