"""Resumable streams (contract §3.3): a client that drops and reconnects with `Last-Event-ID` gets
exactly the events it missed, whether the run is still live or finished; `-1` replays everything;
joins of finished runs end at once; the thread join stream replays and validates its ids.
Captures: sse-sample.txt (resumable run), http/join_stream_*.txt, http/thread_stream.txt."""

from __future__ import annotations

import itertools
import time
import uuid
from contextlib import aclosing
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import (
    Event,
    EventReader,
    iter_events,
    new_thread,
    parse_body,
    raw_client,
    read_events,
    run_id_of,
    wait_for_status,
    wire,
)
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

COUNT = 500
# 20 bursts of 25 events with 50 ms pauses: the run lives for about a second, long enough for the
# reconnections below to happen while it is still publishing.
BURSTS = {"count": COUNT, "burst": 25, "pause": 0.05}
DROP_AFTER = (1, 137, 250, 499)


def check_full_run(events: list[Event], run_id: str) -> None:
    """metadata, then custom {"i": 0..499}, each once, with strictly increasing stream ids."""
    assert events[0].event == "metadata"
    assert events[0].data == {"run_id": run_id, "attempt": 1}
    assert [(e.event, e.data) for e in events[1:]] == [("custom", {"i": i}) for i in range(COUNT)]
    keys = [e.id_key() for e in events]
    assert all(a < b for a, b in itertools.pairwise(keys)), "ids not strictly increasing"


async def start_bursts(http: httpx.AsyncClient, thread_id: str, **extra: Any) -> httpx.Response:
    request = http.build_request(
        "POST",
        f"/threads/{thread_id}/runs/stream",
        json={
            "assistant_id": "bursts",
            "input": BURSTS,
            "stream_mode": "custom",
            "stream_resumable": True,
            **extra,
        },
    )
    return await http.send(request, stream=True)


async def test_drop_and_resume_while_live_then_after_finish(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:
        response = await start_bursts(http, thread_id)
        run_id, location = run_id_of(response), response.headers["location"]
        assert location == f"/threads/{thread_id}/runs/{run_id}/stream"
        seen = await read_events(response, limit=DROP_AFTER[0])
        await response.aclose()  # the client drops

        # Reconnect each time with the last id seen, and drop again at the next point.
        for stop in (*DROP_AFTER[1:], None):
            async with http.stream("GET", location, headers={"Last-Event-ID": seen[-1].id or ""}) as resumed:
                assert resumed.status_code == 200
                assert resumed.headers["content-type"] == "text/event-stream; charset=utf-8"
                assert resumed.headers["location"] == location
                want = None if stop is None else stop - len(seen)
                seen += await read_events(resumed, limit=want)
            if stop is not None:
                assert len(seen) == stop
        check_full_run(seen, run_id)
        assert (await wait_for_status(client, thread_id, run_id))["status"] == "success"

        # After the run finished: every resume point gives exactly the rest, then the stream ends.
        for k in (*DROP_AFTER, COUNT, COUNT + 1):
            replay = await http.get(location, headers={"Last-Event-ID": seen[k - 1].id or ""})
            events, heartbeats = parse_body(replay.content)
            assert heartbeats == 0
            assert [(e.event, e.data, e.id) for e in events] == [(e.event, e.data, e.id) for e in seen[k:]]

        # `-1` (and `0`) replay everything, with the ids the live events carried
        for everything in ("-1", "0"):
            replay = await http.get(location, headers={"Last-Event-ID": everything})
            events, _ = parse_body(replay.content)
            assert [e.raw for e in events] == [e.raw for e in seen]
        # an id with the millisecond only means that millisecond's sequence 0
        ms = seen[250].id_key()[0]
        replay = await http.get(location, headers={"Last-Event-ID": str(ms)})
        events, _ = parse_body(replay.content)
        assert [e.raw for e in events] == [e.raw for e in seen if e.id_key() > (ms, 0)]
        for malformed in ("abc", "12-x", "1-2-3"):
            replay = await http.get(location, headers={"Last-Event-ID": malformed})
            assert replay.status_code == 422, malformed
            assert replay.json() == {"detail": "Invalid last-event-id: must be a valid Redis stream ID"}


async def test_minus_one_while_live_replays_then_follows(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:
        response = await start_bursts(http, thread_id)
        run_id, location = run_id_of(response), response.headers["location"]
        reader = EventReader(response)
        first = await reader.take(60)
        # a second reader joins mid-run from the very beginning, while the first keeps reading
        async with http.stream("GET", location, headers={"Last-Event-ID": "-1"}) as joined:
            everything = await read_events(joined)
        rest = await reader.take()
        await response.aclose()
    check_full_run(everything, run_id)
    check_full_run(first + rest, run_id)
    assert [e.raw for e in everything] == [e.raw for e in first + rest]


async def test_sdk_join_stream_with_last_event_id(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    live = [
        p
        async for p in client.runs.stream(
            thread_id,
            "agent",
            input=wire({"items": ["r"]}),
            stream_mode=["values", "updates"],
            stream_resumable=True,
        )
    ]
    run_id = live[0].data["run_id"]
    assert all(p.id is not None for p in live)
    expected = [(p.event, p.data, p.id) for p in live]

    replayed = [p async for p in client.runs.join_stream(thread_id, run_id, last_event_id="-1")]
    assert [(p.event, p.data, p.id) for p in replayed] == expected
    after_second = [p async for p in client.runs.join_stream(thread_id, run_id, last_event_id=live[1].id)]
    assert [(p.event, p.data, p.id) for p in after_second] == expected[2:]
    # ?stream_mode= filters the replay: only those events, not even `metadata`
    # (http/join_stream_replay_updates_only.txt)
    updates_only = [
        p async for p in client.runs.join_stream(thread_id, run_id, last_event_id="-1", stream_mode="updates")
    ]
    assert [(p.event, p.data, p.id) for p in updates_only] == [e for e in expected if e[0] == "updates"]


async def test_join_of_finished_run_without_last_event_id_ends_at_once(
    client: LangGraphClient, stack: Stack
) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http:
        for resumable in (False, True):
            response = await http.post(
                f"/threads/{thread_id}/runs/wait",
                json={"assistant_id": "agent", "input": {"items": []}, "stream_resumable": resumable},
            )
            run_id = run_id_of(response)
            started = time.monotonic()
            joined = await http.get(f"/threads/{thread_id}/runs/{run_id}/stream")
            elapsed = time.monotonic() - started
            assert joined.status_code == 200, resumable
            assert joined.content == b"", resumable  # not even a heartbeat
            assert elapsed < 2.5, f"resumable={resumable}: the join took {elapsed:.1f}s"
            assert joined.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert joined.headers["location"] == f"/threads/{thread_id}/runs/{run_id}/stream"
            assert joined.headers["content-location"] == f"/threads/{thread_id}/runs/{run_id}"
            # a non-resumable run has nothing to replay: Last-Event-ID changes nothing
            if not resumable:
                joined = await http.get(
                    f"/threads/{thread_id}/runs/{run_id}/stream", headers={"Last-Event-ID": "-1"}
                )
                assert joined.content == b""
        # the SDK sees the same: an empty stream that ends
        assert [p async for p in client.runs.join_stream(thread_id, run_id)] == []


async def test_join_stream_of_a_live_run_without_id_gets_what_follows(
    client: LangGraphClient, stack: Stack
) -> None:
    thread_id = await new_thread(client)
    run = await client.runs.create(
        thread_id, "agent", input=wire({"items": ["j"], "delay": 0.5}), stream_mode=["updates"]
    )
    parts = [p async for p in client.runs.join_stream(thread_id, run["run_id"])]
    # joined while step_a ran: at least step_b's update arrives, and the stream ends with the run
    assert parts, "nothing streamed"
    assert parts[-1].event == "updates"
    assert parts[-1].data == {"step_b": {"items": ["b"]}}
    assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "success"


async def read_thread_until_done(response: httpx.Response, run_ids: set[str]) -> list[Event]:
    """Events of a thread stream until every run in `run_ids` reported run_done (it never ends)."""
    events: list[Event] = []
    pending = set(run_ids)
    async for event in iter_events(response):
        if event is None:
            continue
        events.append(event)
        if event.event == "metadata" and event.data.get("status") == "run_done":
            pending.discard(event.data["run_id"])
            if not pending:
                return events
    raise AssertionError("thread stream ended on its own")


async def test_thread_stream_sees_run_frames_and_run_done(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    async with raw_client(stack.url) as http, http.stream("GET", f"/threads/{thread_id}/stream") as response:
        # headers arrive once the stream is subscribed: a run created now is seen whole
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        run = await client.runs.create(
            thread_id, "agent", input=wire({"items": ["t"]}), stream_mode=["values", "updates"]
        )
        events = await read_thread_until_done(response, {run["run_id"]})
    assert [(e.event, e.data) for e in events] == [
        ("metadata", {"run_id": run["run_id"], "attempt": 1}),
        ("values", {"items": ["t"]}),
        ("updates", {"step_a": {"items": ["a"]}}),
        ("values", {"items": ["t", "a"]}),
        ("updates", {"step_b": {"items": ["b"]}}),
        ("values", {"items": ["t", "a", "b"]}),
        ("metadata", {"status": "run_done", "run_id": run["run_id"]}),
    ]
    # a thread stream always carries ids, also for a run that is not resumable...
    keys = [e.id_key() for e in events]
    assert all(e.id for e in events)
    assert keys == sorted(set(keys))
    # ...whose frames are still not kept for replay
    async with (
        raw_client(stack.url) as http,
        http.stream("GET", f"/threads/{thread_id}/stream", headers={"Last-Event-ID": "-"}) as response,
    ):
        later = await client.runs.create(
            thread_id, "agent", input=wire({"items": ["u"]}), stream_mode="updates"
        )
        replayed = await read_thread_until_done(response, {later["run_id"]})
    assert [e.event for e in replayed] == ["metadata", "updates", "updates", "metadata"]
    assert replayed[0].data == {"run_id": later["run_id"], "attempt": 1}
    assert replayed[0].id_key() > keys[-1]


async def test_thread_stream_replay_and_filters(client: LangGraphClient, stack: Stack) -> None:
    thread_id = await new_thread(client)
    run_ids = []
    for item in ("p", "q"):
        parts = [
            p
            async for p in client.runs.stream(
                thread_id,
                "agent",
                input=wire({"items": [item]}),
                stream_mode="updates",
                stream_resumable=True,
            )
        ]
        run_ids.append(parts[0].data["run_id"])

    async with raw_client(stack.url) as http:
        # `-` replays the stored frames of every resumable run on the thread, in order, with ids
        async with http.stream(
            "GET", f"/threads/{thread_id}/stream", headers={"Last-Event-ID": "-"}
        ) as response:
            events = await read_thread_until_done(response, set(run_ids))
        expected = []
        for run_id in run_ids:
            expected += [
                ("metadata", {"run_id": run_id, "attempt": 1}),
                ("updates", {"step_a": {"items": ["a"]}}),
                ("updates", {"step_b": {"items": ["b"]}}),
                ("metadata", {"status": "run_done", "run_id": run_id}),
            ]
        assert [(e.event, e.data) for e in events] == expected
        keys = [e.id_key() for e in events]
        assert keys == sorted(set(keys))

        # resuming from the first run's done frame gives only the second run
        async with http.stream(
            "GET", f"/threads/{thread_id}/stream", headers={"Last-Event-ID": events[3].id or ""}
        ) as response:
            rest = await read_thread_until_done(response, {run_ids[1]})
        assert [e.raw for e in rest] == [e.raw for e in events[4:]]

        # `ms-*` is the whole millisecond: the replay starts after it
        ms = events[3].id_key()[0]
        async with http.stream(
            "GET", f"/threads/{thread_id}/stream", headers={"Last-Event-ID": f"{ms}-*"}
        ) as response:
            rest = await read_thread_until_done(response, {run_ids[1]})
        assert [e.raw for e in rest] == [e.raw for e in events if e.id_key()[0] > ms]

        # lifecycle: only the metadata events (run start and run_done)
        async with http.stream(
            "GET",
            f"/threads/{thread_id}/stream",
            params={"stream_modes": "lifecycle"},
            headers={"Last-Event-ID": "-"},
        ) as response:
            lifecycle = await read_thread_until_done(response, set(run_ids))
        assert [e.raw for e in lifecycle] == [e.raw for e in events if e.event == "metadata"]

        for bad in ("-1", "abc", "12-x"):
            response = await http.get(f"/threads/{thread_id}/stream", headers={"Last-Event-ID": bad})
            assert response.status_code == 422, bad
            assert response.json() == {"detail": "Invalid last-event-id: must be a valid Redis stream ID"}
        response = await http.get(f"/threads/{thread_id}/stream", params={"stream_modes": "run_modes,bogus"})
        assert response.status_code == 422
        assert response.json() == {"detail": "Invalid stream mode: bogus"}
        missing = str(uuid.uuid4())
        response = await http.get(f"/threads/{missing}/stream")
        assert response.status_code == 404

    # the SDK's thread join_stream, from the beginning
    # the SDK types join_stream's result as an AsyncIterator; it is an async generator (it has aclose)
    joined = await client.threads.join_stream(thread_id, last_event_id="-")
    async with aclosing(joined) as sdk_parts:  # type: ignore[type-var]
        sdk_events = []
        async for part in sdk_parts:
            sdk_events.append((part.event, part.data, part.id))
            if part.event == "metadata" and part.data.get("status") == "run_done" and len(sdk_events) > 4:
                break
    assert sdk_events == [(e.event, e.data, e.id) for e in events]
