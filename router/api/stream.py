"""Relaying run frames from Redis to HTTP clients: SSE streams and the `wait`/`join` JSON bodies.

Every relay subscribes before it looks at history, so nothing published in between is lost. SSE
heartbeats (`: heartbeat`) and wait keep-alives (`\\n`) tick on a fixed timer from the start of the
response. A stream ends on the router's internal done frame; as a safety net against a lost done
frame, each heartbeat also re-checks the run's status in Postgres.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Send

from contracts import frames
from contracts.frames import Frame
from router.queue.broker import Subscription

log = logging.getLogger(__name__)

SSE_HEADERS = {"cache-control": "no-store", "connection": "keep-alive", "x-accel-buffering": "no"}
SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"

IsFinished = Callable[[], Awaitable[bool]]


def run_headers(thread_id: str | None, run_id: str, *, kind: str, prefix: str = "") -> dict[str, str]:
    """`Location` is what the SDK reconnects to; `Content-Location` names the run. `prefix`: the
    deployment's path prefix the request came in under (`/d/{name}`, router.api.auth.path_prefix)."""
    run_path = f"/threads/{thread_id}/runs/{run_id}" if thread_id else f"/runs/{run_id}"
    base = prefix + run_path
    return {"location": f"{base}/{kind}", "content-location": base}


def mode_filter(frame: Frame, modes: set[str] | None) -> bool:
    """Whether a join with `?stream_mode=` passes `frame`: only the named modes (no `metadata`, as the
    official server filters a replay) and always `error`, which ends a failed run's stream."""
    if modes is None or frame.event == frames.ERROR_EVENT:
        return True
    base = frame.base_mode()
    return base in modes or (base == "messages" and any(m.startswith("messages") for m in modes))


async def next_frame(sub: Subscription, deadline: float) -> Frame | None:
    """The next frame, or None when the heartbeat deadline (event loop time) passes first."""
    if deadline <= asyncio.get_running_loop().time():
        return None
    if sub.queue.empty():
        try:
            # In this task (asyncio.wait_for would run the get in a task of its own, one more loop turn).
            async with asyncio.timeout_at(deadline):
                raw = await sub.get()
        except TimeoutError:
            return None
    else:
        raw = sub.queue.get_nowait()
    return Frame.decode_pubsub(raw)


async def sse_frames(
    sub: Subscription,
    *,
    heartbeat: float,
    replayed: list[Frame],
    after: tuple[int, int] | None,
    modes: set[str] | None,
    is_finished: IsFinished,
) -> AsyncGenerator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + heartbeat
    for frame in replayed:
        if frame.is_done():
            return
        if mode_filter(frame, modes):
            yield frames.encode_sse(frame.event, frame.data, frame.id)
    while True:
        live = await next_frame(sub, deadline)
        if live is None:
            yield frames.HEARTBEAT
            deadline += heartbeat
            if await is_finished():
                return
            continue
        if live.is_done():
            return
        if after is not None and live.id is not None and frames.parse_stream_id(live.id) <= after:
            continue  # already sent from the replay log
        if mode_filter(live, modes):
            yield frames.encode_sse(live.event, live.data, live.id)


class FinalChunk(bytes):
    """The last chunk of a response body: `streaming` sends it together with the body's end."""


async def wait_output(
    sub: Subscription,
    *,
    heartbeat: float,
    fetch_output: Callable[[], Awaitable[Any]],
    is_finished: IsFinished,
) -> AsyncGenerator[bytes]:
    """Newline keep-alives until the run is done, then its output as JSON (a FinalChunk)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + heartbeat
    while True:
        frame = await next_frame(sub, deadline)
        if frame is None:
            deadline += heartbeat
            if await is_finished():
                yield FinalChunk(orjson.dumps(await fetch_output()))
                return
            yield b"\n"
            continue
        if frame.is_done():
            yield FinalChunk(orjson.dumps(orjson.loads(frame.data).get("output")))
            return


def streaming(
    body: AsyncGenerator[bytes],
    subscription: AbstractAsyncContextManager[Subscription],
    *,
    media_type: str,
    headers: dict[str, str],
    on_disconnect: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> StreamingResponse:
    """Wrap `body` so the subscription closes when it ends, and `on_disconnect` runs if the client
    went away before the body finished. A FinalChunk of `body` ends the response at once: it goes out
    in the same write as the end of the chunked body, and the subscription closes after that.
    `body` is closed however the response ends, before the subscription: left suspended, it would be
    closed later by the loop's finaliser hook (a task and a thread-safe wake-up each time)."""

    async def guarded() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for chunk in body:
                finished = isinstance(chunk, FinalChunk)
                yield chunk
            finished = True
        finally:
            # Schedule the disconnect action before awaiting anything: after a disconnect this runs
            # inside a cancelled scope, where every await may be cancelled again.
            if not finished and on_disconnect is not None:
                task: asyncio.Task[None] = asyncio.create_task(on_disconnect())
                _background.add(task)
                task.add_done_callback(_background.discard)
                task.add_done_callback(_log_failure)
            try:
                await body.aclose()
            finally:
                await subscription.__aexit__(None, None, None)

    all_headers = {**(SSE_HEADERS if media_type == SSE_MEDIA_TYPE else {}), **headers}
    return _RelayResponse(guarded(), media_type=media_type, headers=all_headers)


class _RelayResponse(StreamingResponse):
    body_iterator: AsyncGenerator[bytes]

    async def stream_response(self, send: Send) -> None:
        # StreamingResponse.stream_response, plus FinalChunk: the output and the end of the body go
        # out in one write, and the body's clean-up (closing the subscription) comes after it.
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            if isinstance(chunk, FinalChunk):
                await send({"type": "http.response.body", "body": bytes(chunk), "more_body": False})
                await self.body_iterator.aclose()
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


_background: set[asyncio.Task[None]] = set()  # strong references until the tasks finish


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("on-disconnect action failed", exc_info=task.exception())
