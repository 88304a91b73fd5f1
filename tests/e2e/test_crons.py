"""Crons end to end with the official SDK: every operation and shape, crons firing runs, exactly
one run per tick with two router processes on one database, and a router restart (missed ticks
fire once, then the schedule goes on).

Firing tests use croniter's seconds field (a sixth field, seconds last: `* * * * * */2` is every
two seconds), which the official server accepts too; one test uses the plain `* * * * *`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import BadRequestError, NotFoundError, UnprocessableEntityError

from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.helpers import new_thread, wire
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

AGENT_ID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca"  # the system assistant of graph `agent`
CRON_FIELDS = [
    "cron_id",
    "assistant_id",
    "thread_id",
    "user_id",
    "end_time",
    "schedule",
    "timezone",
    "payload",
    "next_run_date",
    "metadata",
    "on_run_completed",
    "enabled",
    "created_at",
    "updated_at",
]


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def runs_of(client: LangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    runs = await client.runs.list(thread_id, limit=1000)
    return sorted((wire(r) for r in runs), key=lambda r: r["created_at"])


async def wait_for_runs(
    client: LangGraphClient, thread_id: str, count: int, within: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        runs = await runs_of(client, thread_id)
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.2)


async def test_stateless_cron_has_the_official_shape(client: LangGraphClient) -> None:
    cron = wire(await client.crons.create("agent", schedule="*/5 * * * *", input=wire({"items": ["cron"]})))
    try:
        assert list(cron) == CRON_FIELDS
        assert cron["assistant_id"] == AGENT_ID
        assert cron["thread_id"] is None
        assert cron["user_id"] == ""
        assert cron["end_time"] is None
        assert cron["timezone"] is None
        assert cron["on_run_completed"] == "delete"
        assert cron["enabled"] is True
        assert cron["metadata"] == {}
        assert cron["payload"] == {
            "schedule": "*/5 * * * *",
            "input": {"items": ["cron"]},
            "assistant_id": AGENT_ID,
            "config": {"configurable": {"cron_id": cron["cron_id"]}},
        }
        nxt = when(cron["next_run_date"])
        assert nxt > datetime.now(UTC)
        assert nxt.minute % 5 == 0
        assert nxt.second == 0
        assert nxt - datetime.now(UTC) <= timedelta(minutes=5)
        assert uuid.UUID(cron["cron_id"]).version == 7
    finally:
        await client.crons.delete(cron["cron_id"])


async def test_thread_cron_has_no_on_run_completed_and_needs_the_thread(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    cron = wire(
        await client.crons.create_for_thread(
            thread_id, "agent", schedule="0 0 * * *", input=wire({"items": ["tc"]})
        )
    )
    try:
        assert list(cron) == CRON_FIELDS
        assert cron["thread_id"] == thread_id
        assert cron["on_run_completed"] is None
        nxt = when(cron["next_run_date"])
        assert (nxt.hour, nxt.minute, nxt.second) == (0, 0, 0)
    finally:
        await client.crons.delete(cron["cron_id"])
    with pytest.raises(NotFoundError):
        await client.crons.create_for_thread(str(uuid.uuid4()), "agent", schedule="0 0 * * *")


async def test_invalid_schedule_timezone_and_fields_are_422(client: LangGraphClient) -> None:
    with pytest.raises(UnprocessableEntityError, match="schedule"):
        await client.crons.create("agent", schedule="not a cron")
    with pytest.raises(UnprocessableEntityError, match="timezone"):
        await client.crons.create("agent", schedule="0 0 * * *", timezone="Mars/Olympus")
    with pytest.raises(UnprocessableEntityError, match="webhook"):
        await client.crons.create("agent", schedule="0 0 * * *", webhook="http://127.0.0.1:9/hook")
    thread_id = await new_thread(client)
    with pytest.raises(UnprocessableEntityError, match="on_run_completed"):
        await client.http.post(
            f"/threads/{thread_id}/runs/crons",
            json={"assistant_id": "agent", "schedule": "0 0 * * *", "on_run_completed": "keep"},
        )
    with pytest.raises(UnprocessableEntityError, match="bogus"):
        await client.http.post(
            "/runs/crons", json={"assistant_id": "agent", "schedule": "0 0 * * *", "bogus": 1}
        )
    with pytest.raises(NotFoundError):
        await client.crons.create(str(uuid.uuid4()), schedule="0 0 * * *")


async def test_timezone_moves_next_run_date(client: LangGraphClient) -> None:
    cron = wire(await client.crons.create("agent", schedule="0 9 * * *", timezone="America/New_York"))
    try:
        assert cron["timezone"] == "America/New_York"
        nxt = when(cron["next_run_date"])
        assert nxt.utcoffset() == timedelta(0)
        assert (nxt.hour, nxt.minute) in ((13, 0), (14, 0))  # 09:00 EDT or EST
    finally:
        await client.crons.delete(cron["cron_id"])


async def test_search_count_get_patch_and_delete(client: LangGraphClient, stack: Stack) -> None:
    assistant = await client.assistants.create("agent", metadata={"suite": "crons"})
    aid = assistant["assistant_id"]
    thread_id = await new_thread(client)
    tag = uuid.uuid4().hex
    a = wire(await client.crons.create(aid, schedule="0 1 * * *", metadata={"tag": tag, "n": 1}))
    b = wire(
        await client.crons.create_for_thread(thread_id, aid, schedule="0 2 * * *", metadata={"tag": tag})
    )
    c = wire(await client.crons.create(aid, schedule="0 3 * * *", metadata={"tag": tag}, enabled=False))
    found = await client.crons.search(assistant_id=aid)
    assert [x["cron_id"] for x in found] == [c["cron_id"], b["cron_id"], a["cron_id"]]  # newest first
    assert [
        x["cron_id"]
        for x in await client.crons.search(assistant_id=aid, sort_by="created_at", sort_order="asc")
    ] == [
        a["cron_id"],
        b["cron_id"],
        c["cron_id"],
    ]
    assert [x["cron_id"] for x in await client.crons.search(thread_id=thread_id)] == [b["cron_id"]]
    assert [x["cron_id"] for x in await client.crons.search(metadata={"tag": tag, "n": 1})] == [a["cron_id"]]
    assert [x["cron_id"] for x in await client.crons.search(assistant_id=aid, enabled=False)] == [
        c["cron_id"]
    ]
    selected = await client.crons.search(assistant_id=aid, select=["cron_id", "schedule"], limit=1)
    assert selected == [{"cron_id": c["cron_id"], "schedule": "0 3 * * *"}]
    assert await client.crons.count(assistant_id=aid) == 3
    assert await client.crons.count(metadata={"tag": tag}, thread_id=thread_id) == 1
    async with httpx.AsyncClient(base_url=stack.url) as http:
        page = await http.post("/runs/crons/search", json={"assistant_id": aid, "limit": 2})
        assert page.headers["X-Pagination-Next"] == "2"
        got = await http.get(f"/runs/crons/{a['cron_id']}")
        assert got.status_code == 200
        assert got.json() == a
        assert (await http.patch(f"/runs/crons/{a['cron_id']}", json={})).status_code == 400
        assert (await http.get("/runs/crons/not-a-uuid")).status_code == 422

    end = datetime.now(UTC) + timedelta(days=30)
    patched = wire(
        await client.crons.update(
            a["cron_id"],
            schedule="30 4 * * *",
            metadata={"extra": True},
            end_time=end,
            input=wire({"items": ["x"]}),
        )
    )
    assert patched["schedule"] == "30 4 * * *"
    nxt = when(patched["next_run_date"])
    assert (nxt.hour, nxt.minute) == (4, 30)
    assert patched["metadata"] == {"tag": tag, "n": 1, "extra": True}
    assert when(patched["end_time"]) == end.replace(microsecond=end.microsecond)
    assert patched["payload"]["input"] == {"items": ["x"]}
    assert patched["payload"]["config"]["configurable"]["cron_id"] == a["cron_id"]
    assert when(patched["updated_at"]) > when(a["updated_at"])
    cleared = wire(await client.crons.update(a["cron_id"], end_time=None))
    assert cleared["end_time"] is None
    assert (await client.crons.update(a["cron_id"], on_run_completed="keep"))["on_run_completed"] == "keep"
    with pytest.raises(UnprocessableEntityError):
        await client.crons.update(b["cron_id"], on_run_completed="keep")
    with pytest.raises(BadRequestError):
        await client.http.patch(f"/runs/crons/{a['cron_id']}", json={})

    for cron in (a, b, c):
        await client.crons.delete(cron["cron_id"])
    assert await client.crons.search(assistant_id=aid) == []
    with pytest.raises(NotFoundError):
        await client.crons.delete(a["cron_id"])
    with pytest.raises(NotFoundError):
        await client.crons.update(a["cron_id"], schedule="0 0 * * *")


async def test_thread_cron_fires_runs_until_deleted(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    cron = wire(
        await client.crons.create_for_thread(
            thread_id,
            "agent",
            schedule="* * * * * */2",
            input=wire({"items": ["tick"]}),
            metadata={"who": "cron"},
        )
    )
    runs = await wait_for_runs(client, thread_id, 2, within=10)
    await client.crons.delete(cron["cron_id"])
    assert len(runs) >= 2
    for run in runs:
        assert run["kwargs"]["input"] == {"items": ["tick"]}
        assert run["kwargs"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
        assert run["metadata"]["who"] == "cron"
    settled = len(await runs_of(client, thread_id))
    await asyncio.sleep(2.5)
    assert len(await runs_of(client, thread_id)) == settled  # deleted: no more ticks


async def test_disabled_cron_fires_only_once_enabled(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    cron = wire(
        await client.crons.create_for_thread(
            thread_id, "agent", schedule="* * * * * *", input={"items": []}, enabled=False
        )
    )
    try:
        await asyncio.sleep(2.5)
        assert await runs_of(client, thread_id) == []
        await client.crons.update(cron["cron_id"], enabled=True)
        assert len(await wait_for_runs(client, thread_id, 1, within=5)) >= 1
    finally:
        await client.crons.delete(cron["cron_id"])


async def test_cron_past_its_end_time_does_not_fire(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    end = datetime.now(UTC) + timedelta(seconds=2)
    cron = wire(
        await client.crons.create_for_thread(thread_id, "agent", schedule="* * * * * *", end_time=end)
    )
    try:
        await asyncio.sleep(3.5)
        fired = await runs_of(client, thread_id)
        assert 1 <= len(fired) <= 3
        assert all(when(r["created_at"]) < end + timedelta(seconds=1) for r in fired)
        await asyncio.sleep(1.5)
        assert len(await runs_of(client, thread_id)) == len(fired)
    finally:
        await client.crons.delete(cron["cron_id"])


@pytest.mark.timeout(100)
async def test_every_minute_cron_fires_at_the_minute(client: LangGraphClient) -> None:
    thread_id = await new_thread(client)
    cron = wire(
        await client.crons.create_for_thread(thread_id, "agent", schedule="* * * * *", input={"items": []})
    )
    try:
        due = when(cron["next_run_date"])
        assert due.second == 0
        runs = await wait_for_runs(client, thread_id, 1, within=70)
        assert len(runs) == 1
        fired_at = when(runs[0]["created_at"])
        assert due <= fired_at < due + timedelta(seconds=2)
        after = await client.crons.search(thread_id=thread_id)
        assert when(wire(after[0])["next_run_date"]) == due + timedelta(minutes=1)
    finally:
        await client.crons.delete(cron["cron_id"])


# --- two routers, one database; a router restart -----------------------------------------------


@pytest.fixture(scope="module")
def shared_db_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Stack]]:
    """Two router processes (and one function runtime) on one database and Redis prefix. Each
    scheduler looks at the table at least every second, so both contend for every tick."""
    with migrated_database("t_e2e_crons") as dsn:
        workdir = tmp_path_factory.mktemp("crons")
        env = {"LANGOPEN_SCHEDULER_MAX_SLEEP_SECONDS": "1"}
        prefix = f"langopen-e2e-crons:{uuid.uuid4().hex[:8]}"
        first = Stack(
            database_url=dsn, redis_url=REDIS_URL, redis_prefix=prefix, workdir=workdir, extra_env=env
        )
        second = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            workdir=workdir / "second",
            extra_env=env,
            function_port=first.function_port,
        )
        second.workdir.mkdir()
        try:
            first.start()
            second.start_router()
            yield first, second
        finally:
            second.stop()
            first.stop()


@pytest.fixture
async def shared_clients(
    shared_db_stacks: tuple[Stack, Stack],
) -> AsyncIterator[tuple[LangGraphClient, LangGraphClient]]:
    first, second = (get_client(url=s.url, api_key=None) for s in shared_db_stacks)
    try:
        yield first, second
    finally:
        await first.http.client.aclose()
        await second.http.client.aclose()


@pytest.mark.timeout(180)  # the fixture starts two stacks first, slow on a busy machine
async def test_two_routers_fire_every_tick_exactly_once(
    shared_clients: tuple[LangGraphClient, LangGraphClient],
) -> None:
    one, two = shared_clients
    thread_id = await new_thread(one)
    cron = wire(
        await two.crons.create_for_thread(thread_id, "agent", schedule="* * * * * */2", input={"items": []})
    )
    started = datetime.now(UTC)
    await asyncio.sleep(9)
    await one.crons.delete(cron["cron_id"])
    stopped = datetime.now(UTC)
    runs = await runs_of(one, thread_id)
    created = [when(r["created_at"]) for r in runs]
    # one run per even second crossed; a tick fired twice would add a run milliseconds apart
    ticks = sum(1 for s in range(int(started.timestamp()) + 1, int(stopped.timestamp()) + 1) if s % 2 == 0)
    assert ticks - 1 <= len(runs) <= ticks, (ticks, created)
    slots = [int(c.timestamp()) // 2 for c in created]
    assert len(set(slots)) == len(slots), created
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
    assert all(g > 1.0 for g in gaps), gaps


@pytest.mark.timeout(180)  # stops and restarts routers and sleeps through ticks: ~35 s alone
async def test_restarted_router_fires_missed_ticks_once_then_keeps_the_schedule(
    shared_db_stacks: tuple[Stack, Stack], shared_clients: tuple[LangGraphClient, LangGraphClient]
) -> None:
    stacks, clients = shared_db_stacks, shared_clients
    thread_id = await new_thread(clients[0])
    cron = wire(
        await clients[0].crons.create_for_thread(
            thread_id, "agent", schedule="* * * * * */5", input={"items": []}
        )
    )
    try:
        await wait_for_runs(clients[0], thread_id, 1, within=10)
        for s in stacks:  # no scheduler left anywhere
            assert s.router is not None
            s.router.terminate()
        for s in stacks:
            assert s.router is not None
            await asyncio.to_thread(s.router.wait, 30)
        down = len(await runs_via_db(stacks[0], thread_id))
        await asyncio.sleep(11)  # two ticks are missed
        assert len(await runs_via_db(stacks[0], thread_id)) == down
        restarted_at = datetime.now(UTC)
        await asyncio.to_thread(stacks[0].start_router)
        await asyncio.sleep(8)
        checked_at = datetime.now(UTC)
        after = [when(r["created_at"]) for r in await runs_of(clients[0], thread_id)][down:]
        assert after, "no run after the restart"
        assert all(c > restarted_at for c in after), after
        # the missed ticks fire once, at start-up (T); then one run per 5 s boundary after T
        catch_up, regular = after[0], after[1:]
        boundaries = [
            datetime.fromtimestamp(t, UTC)
            for t in range(int(catch_up.timestamp()) + 1, int(checked_at.timestamp()) + 1)
            if t % 5 == 0
        ]
        due = [b for b in boundaries if b < checked_at - timedelta(seconds=2)]
        assert len(due) <= len(regular) <= len(boundaries), (catch_up, regular, boundaries)
        for fired, boundary in zip(regular, boundaries, strict=False):
            assert boundary <= fired < boundary + timedelta(seconds=2), (regular, boundaries)
        assert len(due) >= 1
        current = await clients[0].crons.search(thread_id=thread_id)
        assert when(wire(current[0])["next_run_date"]) > checked_at - timedelta(seconds=2)
    finally:
        await clients[0].crons.delete(cron["cron_id"])
        if stacks[1].router is not None and stacks[1].router.poll() is not None:
            await asyncio.to_thread(stacks[1].start_router)


async def runs_via_db(stack: Stack, thread_id: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(stack.database_url)
    try:
        return list(await conn.fetch("SELECT run_id FROM runs WHERE thread_id = $1", uuid.UUID(thread_id)))
    finally:
        await conn.close()
