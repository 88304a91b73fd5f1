"""Helpers shared by the end-to-end tests: a strict SSE reader for raw bytes, run-status polling, and
thread/run shortcuts on top of the official `langgraph-sdk` client."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx
import orjson
from langgraph_sdk.client import LangGraphClient

TERMINAL = frozenset({"success", "error", "interrupted", "timeout"})
STREAM_ID = re.compile(r"^(\d+)-(\d+)$")
HEARTBEAT = b": heartbeat\r\n\r\n"

# The official server's exact texts (reference/captures/http/*.txt).
THREAD_BUSY = (
    "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."
)
THREAD_OR_ASSISTANT_NOT_FOUND = "Thread or assistant not found."
NO_RUNS_TO_CANCEL = "No runs found to cancel."


@dataclass(frozen=True)
class Event:
    """One SSE event as it was on the wire (`raw` is the whole frame, terminator included)."""

    event: str
    data: Any
    id: str | None
    raw: bytes

    def id_key(self) -> tuple[int, int]:
        assert self.id is not None, f"event {self.event} has no id"
        match = STREAM_ID.match(self.id)
        assert match, f"not a Redis stream id: {self.id!r}"
        return int(match.group(1)), int(match.group(2))


def parse_frame(frame: bytes) -> Event | None:
    """Parse one frame (without its trailing blank line) with the official framing rules: CRLF line
    ends, `event` then one `data` line of compact JSON then an optional `id`. None for a heartbeat."""
    if frame == b": heartbeat":
        return None
    assert b"\n" not in frame.replace(b"\r\n", b""), f"bare LF in frame {frame!r}"
    assert b"\r" not in frame.replace(b"\r\n", b""), f"bare CR in frame {frame!r}"
    lines = frame.split(b"\r\n")
    assert len(lines) in (2, 3), f"unexpected frame shape {frame!r}"
    assert lines[0].startswith(b"event: "), frame
    assert lines[1].startswith(b"data: "), frame
    data = lines[1][len(b"data: ") :]
    parsed = orjson.loads(data)
    assert orjson.dumps(parsed) == data, f"data is not compact JSON: {data!r}"
    event_id = None
    if len(lines) == 3:
        assert lines[2].startswith(b"id: "), frame
        event_id = lines[2][len(b"id: ") :].decode()
    return Event(lines[0][len(b"event: ") :].decode(), parsed, event_id, frame + b"\r\n\r\n")


def parse_body(body: bytes) -> tuple[list[Event], int]:
    """All events of a complete SSE body, and how many heartbeats it held."""
    assert body == b"" or body.endswith(b"\r\n\r\n"), f"body does not end with a blank line: {body[-80:]!r}"
    events, heartbeats = [], 0
    for frame in body.split(b"\r\n\r\n")[:-1]:
        parsed = parse_frame(frame)
        if parsed is None:
            heartbeats += 1
        else:
            events.append(parsed)
    return events, heartbeats


async def iter_events(response: httpx.Response) -> AsyncIterator[Event | None]:
    """Events of a streaming response as they arrive; None for each heartbeat."""
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        while b"\r\n\r\n" in buffer:
            frame, buffer = buffer.split(b"\r\n\r\n", 1)
            yield parse_frame(frame)
    assert buffer == b"", f"stream ended inside a frame: {buffer!r}"


class EventReader:
    """Reads one streaming response in pieces: `take(n)` now, more later (heartbeats skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self._events = iter_events(response)

    async def take(self, limit: int | None = None) -> list[Event]:
        out: list[Event] = []
        if limit is not None and limit <= 0:
            return out
        async for event in self._events:
            if event is not None:
                out.append(event)
                if limit is not None and len(out) >= limit:
                    break
        return out


async def read_events(response: httpx.Response, limit: int | None = None) -> list[Event]:
    """Read events (heartbeats skipped) until the stream ends or `limit` events were read."""
    return await EventReader(response).take(limit)


def wire(value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` typed as the plain JSON object it is on the wire (a cast: no copy, no check).

    For what goes to and comes from `langgraph-sdk`, whose types are narrower than the protocol: its
    TypedDicts omit keys the server sends (`Run.kwargs`, `Thread.error`, `Thread.config`; `crons.create`
    is typed as returning a `Run`) and type timestamps as `datetime` where JSON has strings; and its
    `input`/`context` type (`_JSONMap`) puts invariant `list[...]` in a union, so mypy rejects a literal such
    as `{"items": ["x"]}` — wrapped in `wire(...)` it is a `dict[str, Any]`, which the SDK accepts."""
    return cast(dict[str, Any], value)


def values_of(values: list[dict[Any, Any]] | dict[str, Any]) -> dict[str, Any]:
    """A graph's state values (`runs.wait`'s output, `ThreadState["values"]`) as the object they are.

    The SDK also allows a list (a graph whose state is a list); every graph the tests run keeps an object.
    A cast, no check: indexing a list with a key fails the test anyway."""
    return cast(dict[str, Any], values)


def run_id_of(response: httpx.Response) -> str:
    """The run id from `Content-Location: /threads/{t}/runs/{r}` (or `/runs/{r}`)."""
    return response.headers["content-location"].rstrip("/").rsplit("/", 1)[1]


async def new_thread(client: LangGraphClient, **kwargs: Any) -> str:
    thread = await client.threads.create(**kwargs)
    return str(thread["thread_id"])


async def wait_for_status(
    client: LangGraphClient,
    thread_id: str,
    run_id: str,
    statuses: Iterable[str] = TERMINAL,
    within: float = 30.0,
) -> dict[str, Any]:
    """Bounded polling of a run's status until it is one of `statuses`."""
    wanted = frozenset(statuses)
    deadline = time.monotonic() + within
    while True:
        run = await client.runs.get(thread_id, run_id)
        if run["status"] in wanted:
            return dict(run)
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {within}s"
        await asyncio.sleep(0.05)


async def wait_for_thread_status(
    client: LangGraphClient, thread_id: str, status: str, within: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        thread = await client.threads.get(thread_id)
        if thread["status"] == status:
            return dict(thread)
        assert time.monotonic() < deadline, f"thread {thread_id} still {thread['status']} after {within}s"
        await asyncio.sleep(0.05)


async def checkpoints_of_run(client: LangGraphClient, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    history = await client.threads.get_history(thread_id, limit=100)
    return [dict(s) for s in history if (s["metadata"] or {}).get("run_id") == run_id]


async def wait_for_checkpoint(
    client: LangGraphClient, thread_id: str, run_id: str, within: float = 30.0
) -> None:
    """Bounded polling until the run wrote at least one checkpoint."""
    deadline = time.monotonic() + within
    while not await checkpoints_of_run(client, thread_id, run_id):
        assert time.monotonic() < deadline, f"run {run_id} wrote no checkpoint in {within}s"
        await asyncio.sleep(0.05)


def raw_client(base_url: str) -> httpx.AsyncClient:
    """A plain httpx client for what the SDK hides: status codes, headers and bytes."""
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60.0, connect=5.0))
