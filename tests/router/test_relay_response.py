"""How the end of a wait/join body goes out: the output in the same ASGI message as the body's end,
the subscription closed after that, and waiters of this process answered before the done frame's
Redis round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from starlette.types import Message

from contracts.frames import DONE_EVENT, Frame
from router.api import stream as relay
from router.queue import signals
from router.queue.broker import Subscription
from router.services import outcomes
from tests.router.conftest import Env

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "POST"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @asynccontextmanager
    async def subscription(self) -> AsyncIterator[Subscription]:
        try:
            yield Subscription((b"run",))
        finally:
            self.events.append("subscription closed")

    async def send(self, message: Message) -> None:
        self.events.append(message)

    async def disconnected(self) -> None:
        self.events.append("on_disconnect")


async def _never_disconnects() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _respond(recorder: Recorder, body: AsyncGenerator[bytes]) -> list[Any]:
    subscription = recorder.subscription()
    await subscription.__aenter__()
    response = relay.streaming(
        body,
        subscription,
        media_type="application/json",
        headers={},
        on_disconnect=recorder.disconnected,
    )
    await response(SCOPE, _never_disconnects, recorder.send)
    await asyncio.sleep(0)  # an on_disconnect task, were one started, would have recorded itself
    return [
        e if isinstance(e, str) else (e["type"], e.get("body"), e.get("more_body")) for e in recorder.events
    ]


async def test_the_final_chunk_is_sent_with_the_end_of_the_body() -> None:
    recorder = Recorder()

    async def body() -> AsyncGenerator[bytes]:
        try:
            yield b"\n"
            yield relay.FinalChunk(b'{"n":4}')
            raise AssertionError("the body is not read past its final chunk")
        finally:
            recorder.events.append("body closed")

    events = await _respond(recorder, body())

    # Closed, not left for the loop's finaliser hook (a task and a thread-safe wake-up per response).
    assert events == [
        ("http.response.start", None, None),
        ("http.response.body", b"\n", True),
        ("http.response.body", b'{"n":4}', False),
        "body closed",
        "subscription closed",
    ]


async def test_a_body_without_a_final_chunk_ends_after_its_last_chunk() -> None:
    async def body() -> AsyncGenerator[bytes]:
        yield b"event: values\r\n\r\n"

    events = await _respond(Recorder(), body())

    assert events == [
        ("http.response.start", None, None),
        ("http.response.body", b"event: values\r\n\r\n", True),
        "subscription closed",
        ("http.response.body", b"", False),
    ]


async def test_wait_output_ends_with_a_final_chunk() -> None:
    sub = Subscription((b"run",))
    done = orjson.dumps({"status": "success", "output": {"n": 4}})
    sub.queue.put_nowait(Frame("values", b"{}").encode_pubsub())
    sub.queue.put_nowait(Frame(DONE_EVENT, done).encode_pubsub())

    async def never_finished() -> bool:
        return False

    async def no_output() -> Any:
        raise AssertionError("the done frame carries the output")

    chunks = [
        c
        async for c in relay.wait_output(
            sub, heartbeat=5.0, fetch_output=no_output, is_finished=never_finished
        )
    ]
    assert chunks == [b'{"n":4}']
    assert isinstance(chunks[0], relay.FinalChunk)


async def test_next_frame_times_out_at_the_deadline_and_takes_queued_frames_at_once() -> None:
    sub = Subscription((b"run",))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await relay.next_frame(sub, started + 0.05) is None
    assert loop.time() - started >= 0.05
    assert await relay.next_frame(sub, started - 1) is None  # a passed deadline: no wait at all
    sub.queue.put_nowait(Frame("values", b"{}").encode_pubsub())
    frame = await relay.next_frame(sub, loop.time() + 5)
    assert frame is not None
    assert frame.event == "values"


async def test_local_waiters_answer_before_the_done_frame_goes_to_redis(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = env.services
    run_id, thread_id = "1f0c7a40-0000-7000-8000-000000000001", "1f0c7a40-0000-7000-8000-000000000002"
    channel = services.keys.run_stream_channel(run_id)
    seen_at_publish: list[bool] = []
    real_publish = signals.publish_done

    async def observed_publish(*args: Any, **kwargs: Any) -> None:
        seen_at_publish.append(waiter.done())
        await real_publish(*args, **kwargs)

    monkeypatch.setattr(signals, "publish_done", observed_publish)
    async with services.broker.subscribe(channel, local=True) as sub:
        waiter = asyncio.create_task(relay.next_frame(sub, asyncio.get_running_loop().time() + 5))
        await asyncio.sleep(0)  # the waiter is waiting for its frame
        row = await services.pool.fetchrow(
            "SELECT $1::uuid AS run_id, $2::uuid AS thread_id, 'success' AS status, '{}'::jsonb AS kwargs",
            run_id,
            thread_id,
        )
        assert row is not None
        await outcomes.publish_done(services, row, {"n": 4})
        frame = await waiter

    assert seen_at_publish == [True]
    assert frame is not None
    assert frame.is_done()
    assert orjson.loads(frame.data) == {"status": "success", "output": {"n": 4}}
