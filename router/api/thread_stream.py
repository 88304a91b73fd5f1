"""Join thread stream: every run's frames on a thread, plus `state_update` and run-done metadata.

Never ends on its own (the client closes it). `Last-Event-ID` must be a Redis stream id or `-`
(from the beginning); replay merges the stored frames of the thread's resumable runs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Header
from starlette.responses import Response

from contracts import frames
from router import errors
from router.api import deps
from router.api import stream as relay
from router.api.deps import ServicesDep, check_uuid
from router.queue import signals
from router.services import runs as runs_service
from router.store import runs as runs_store

router = APIRouter(tags=["Threads"], dependencies=[deps.InputChecked])

THREAD_STREAM_MODES = frozenset({"run_modes", "lifecycle", "state_update"})
STREAM_ID = re.compile(r"^\d+(-(\d+|\*))?$")


def keep(frame: frames.Frame, modes: set[str]) -> bool:
    if frame.event == frames.METADATA_EVENT:
        return bool(modes & {"lifecycle", "run_modes"})
    if frame.event == "state_update":
        return "state_update" in modes
    return "run_modes" in modes


def parse_modes(value: str) -> set[str]:
    modes = {m.strip() for m in value.split(",") if m.strip()} or {"run_modes"}
    for mode in sorted(modes):
        if mode not in THREAD_STREAM_MODES:
            raise errors.UnprocessableError(f"Invalid stream mode: {mode}")
    return modes


def check_last_event_id(value: str | None) -> str | None:
    """The Last-Event-ID to replay after (`ms-*` made a full id), or a 422 as the official server."""
    if value is None:
        return None
    normalized = signals.normalize_last_event_id(value) if value == "-" or STREAM_ID.match(value) else None
    if normalized is None:
        raise errors.UnprocessableError("Invalid last-event-id: must be a valid Redis stream ID")
    return normalized


@router.get("/threads/{thread_id}/stream")
async def join_thread_stream(
    thread_id: str,
    services: ServicesDep,
    stream_modes: str = "run_modes",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    thread_id = check_uuid(thread_id, "thread")
    modes = parse_modes(stream_modes)
    last_event_id = check_last_event_id(last_event_id)
    await runs_service.authorize_thread(services, thread_id, "read")
    subscription = services.broker.subscribe(services.keys.thread_stream_channel(thread_id))
    sub = await subscription.__aenter__()
    try:
        if await runs_store.thread_snapshot(services.pool, thread_id) is None:
            raise errors.ThreadNotFoundError(f"Thread with ID {thread_id} not found")
        replayed: list[frames.Frame] = []
        after = None
        if last_event_id is not None:
            replayed = await signals.replay(
                services.redis, services.keys.thread_events(thread_id), last_event_id
            )
            last = replayed[-1].id if replayed else None
            after = frames.parse_stream_id(last or last_event_id)
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise

    async def body() -> AsyncGenerator[bytes]:
        loop = asyncio.get_running_loop()
        heartbeat = services.settings.heartbeat_seconds
        deadline = loop.time() + heartbeat
        for frame in replayed:
            if keep(frame, modes):
                yield frames.encode_sse(frame.event, frame.data, frame.id)
        while True:
            live = await relay.next_frame(sub, deadline)
            if live is None:
                yield frames.HEARTBEAT
                deadline += heartbeat
                continue
            if after is not None and live.id is not None and frames.parse_stream_id(live.id) <= after:
                continue
            if keep(live, modes):
                yield frames.encode_sse(live.event, live.data, live.id)

    return relay.streaming(body(), subscription, media_type=relay.SSE_MEDIA_TYPE, headers={})
