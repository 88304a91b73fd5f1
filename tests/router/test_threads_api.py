"""The thread endpoints over HTTP (ASGI), on real Postgres and Redis.

State endpoints talk to a real function service (functions.app under uvicorn) serving the
end-to-end test app's graphs; threads get their state from `supersteps` and state updates, so no
run is needed.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import httpx
import orjson
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from contracts.frames import Frame
from contracts.ids import system_assistant_id, uuid7
from router.services import threads as threads_service
from tests.router.conftest import Env

AGENT_ID = system_assistant_id("agent")
THREAD_KEYS = [
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "config",
    "values",
    "interrupts",
    "error",
]
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/threads", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def _with_state(client: httpx.AsyncClient, **metadata: Any) -> dict[str, Any]:
    """An `agent` thread whose state went through `step_a` (so `step_b` is next)."""
    return await _create(
        client,
        metadata={"graph_id": "agent", "assistant_id": AGENT_ID, **metadata},
        supersteps=[
            {"updates": [{"values": {"items": ["x"]}, "as_node": "__start__"}]},
            {"updates": [{"values": {"items": ["a"]}, "as_node": "step_a"}]},
        ],
    )


async def _rows(env: Env, thread_id: str) -> int:
    total = 0
    for table in CHECKPOINT_TABLES:
        total += await env.services.pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE thread_id = $1", thread_id
        )
    return total


async def _add_run(env: Env, thread_id: str, status: str = "pending") -> str:
    run_id = str(uuid7())
    await env.services.pool.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, status) VALUES ($1, $2, $3, 'agent', $4)",
        run_id,
        thread_id,
        AGENT_ID,
        status,
    )
    return run_id


# --- CRUD -----------------------------------------------------------------------------------------


async def test_create_and_get_have_the_official_shape(env: Env) -> None:
    created = await _create(env.client, metadata={"purpose": "peer-test"})
    assert list(created) == THREAD_KEYS
    assert uuid.UUID(created["thread_id"]).version == 7
    assert created["created_at"] == created["updated_at"] == created["state_updated_at"]
    assert created["created_at"].endswith("+00:00")
    assert (created["metadata"], created["status"], created["config"], created["values"]) == (
        {"purpose": "peer-test"},
        "idle",
        {},
        None,
    )
    assert (created["interrupts"], created["error"]) == ({}, None)
    got = await env.client.get(f"/threads/{created['thread_id']}")
    assert (got.status_code, got.json()) == (200, created)
    assert (await env.client.post("/threads")).status_code == 200


async def test_create_with_an_existing_id_raises_or_returns_it(env: Env) -> None:
    thread_id = str(uuid.uuid4())
    first = await _create(env.client, thread_id=thread_id, metadata={"n": 1})
    again = await env.client.post("/threads", json={"thread_id": thread_id})
    assert (again.status_code, again.json()) == (
        409,
        {"detail": f"Thread with ID {thread_id} already exists"},
    )
    same = await _create(env.client, thread_id=thread_id, metadata={"n": 2}, if_exists="do_nothing")
    assert same == first


async def test_create_and_path_refuse_bad_ids_and_fields(env: Env) -> None:
    bad = await env.client.post("/threads", json={"thread_id": "nope"})
    assert (bad.status_code, bad.json()) == (422, {"detail": "Invalid thread ID: must be a UUID"})
    unknown = await env.client.post("/threads", json={"colour": "red"})
    assert unknown.status_code == 422
    assert "colour" in unknown.json()["detail"]
    bad_ttl = await env.client.post("/threads", json={"ttl": {"strategy": "never"}})
    assert bad_ttl.status_code == 422
    for method, path in [
        ("GET", "/threads/nope"),
        ("PATCH", "/threads/nope"),
        ("DELETE", "/threads/nope"),
        ("POST", "/threads/nope/copy"),
        ("GET", "/threads/nope/state"),
        ("GET", "/threads/nope/history"),
        ("GET", "/threads/nope/storage"),
    ]:
        response = await env.client.request(method, path, json={} if method == "PATCH" else None)
        assert (response.status_code, response.json()) == (
            422,
            {"detail": "Invalid thread ID: must be a UUID"},
        )


async def test_missing_threads_are_404_with_the_official_message(env: Env) -> None:
    missing = str(uuid.uuid4())
    for method, path in [
        ("GET", f"/threads/{missing}"),
        ("PATCH", f"/threads/{missing}"),
        ("DELETE", f"/threads/{missing}"),
        ("POST", f"/threads/{missing}/copy"),
        ("GET", f"/threads/{missing}/state"),
        ("POST", f"/threads/{missing}/state"),
        ("GET", f"/threads/{missing}/history"),
        ("POST", f"/threads/{missing}/history"),
        ("GET", f"/threads/{missing}/storage"),
    ]:
        response = await env.client.request(method, path, json={} if method in ("PATCH", "POST") else None)
        assert (response.status_code, response.json()) == (
            404,
            {"detail": f"Thread with ID {missing} not found"},
        )


async def test_ttl_as_the_sdk_sends_it(env: Env) -> None:
    created = await _create(env.client, ttl={"ttl": 30, "strategy": "delete"})
    assert "ttl" not in created
    tid = created["thread_id"]
    with_ttl = (await env.client.get(f"/threads/{tid}", params={"include": "ttl"})).json()
    assert with_ttl["ttl"]["strategy"] == "delete"
    assert with_ttl["ttl"]["ttl_minutes"] == 30
    assert with_ttl["ttl"]["expires_at"] > with_ttl["created_at"]
    patched = await env.client.patch(f"/threads/{tid}", json={"metadata": {}, "ttl": {"ttl": 5}})
    assert patched.status_code == 200
    assert (await env.client.get(f"/threads/{tid}?include=ttl")).json()["ttl"]["ttl_minutes"] == 5


async def test_patch_merges_metadata_and_prefers_minimal(env: Env) -> None:
    tid = (await _create(env.client, metadata={"a": 1, "b": 1}))["thread_id"]
    patched = await env.client.patch(f"/threads/{tid}", json={"metadata": {"b": 2}})
    assert patched.status_code == 200
    body = patched.json()
    assert body["metadata"] == {"a": 1, "b": 2}
    assert body["updated_at"] > body["created_at"]
    assert body["state_updated_at"] == body["created_at"]
    minimal = await env.client.patch(
        f"/threads/{tid}", json={"metadata": {"c": 3}}, headers={"Prefer": "return=minimal"}
    )
    assert (minimal.status_code, minimal.content) == (204, b"")
    assert (await env.client.get(f"/threads/{tid}")).json()["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert (await env.client.patch(f"/threads/{tid}", json={"status": "idle"})).status_code == 422


async def test_delete_is_204_and_takes_pending_runs_along(env: Env) -> None:
    tid = (await _create(env.client))["thread_id"]
    run_id = await _add_run(env, tid)
    deleted = await env.client.delete(f"/threads/{tid}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await env.client.get(f"/threads/{tid}")).status_code == 404
    assert await env.services.pool.fetchval("SELECT count(*) FROM runs WHERE run_id = $1", run_id) == 0
    assert (await env.client.delete(f"/threads/{tid}")).status_code == 404


# --- search, count, prune -------------------------------------------------------------------------


async def test_search_filters_pages_sorts_selects_and_extracts(env: Env) -> None:
    made = [
        (await _create(env.client, metadata={"group": "s", "n": n, "deep": {"k": n % 2}}))["thread_id"]
        for n in range(3)
    ]
    await env.services.pool.execute(
        """UPDATE threads SET status = 'interrupted', "values" = '{"messages": [{"content": "hi"}, {"content": "yo"}]}'
           WHERE thread_id = $1""",
        made[1],
    )
    page = await env.client.post("/threads/search", json={"metadata": {"group": "s"}, "limit": 2})
    assert page.status_code == 200
    assert [t["thread_id"] for t in page.json()] == [made[2], made[1]]
    assert (page.headers["x-pagination-total"], page.headers["x-pagination-next"]) == ("3", "2")
    rest = await env.client.post(
        "/threads/search", json={"metadata": {"group": "s"}, "limit": 2, "offset": 2}
    )
    assert [t["thread_id"] for t in rest.json()] == [made[0]]
    assert rest.headers["x-pagination-total"] == "3"
    assert "x-pagination-next" not in rest.headers

    async def ids(**body: Any) -> list[str]:
        response = await env.client.post("/threads/search", json={"metadata": {"group": "s"}, **body})
        assert response.status_code == 200, response.text
        return [t["thread_id"] for t in response.json()]

    assert await ids(sort_by="created_at", sort_order="asc") == made
    assert await ids(sort_by="thread_id", sort_order="asc") == sorted(made)
    assert await ids(status="interrupted") == [made[1]]
    assert await ids(values={"messages": [{"content": "yo"}]}) == [made[1]]
    assert await ids(metadata={"deep": {"k": 0}}) == [made[2], made[0]]
    assert await ids(ids=[made[0].upper(), made[2]]) == [made[2], made[0]]

    shaped = await env.client.post(
        "/threads/search",
        json={
            "ids": [made[1]],
            "select": ["thread_id", "status"],
            "extract": {
                "last": "values.messages[-1].content",
                "n": "metadata.n",
                "nothing": "values.none[3]",
            },
        },
    )
    assert shaped.json() == [
        {"thread_id": made[1], "status": "interrupted", "extracted": {"last": "yo", "n": 1, "nothing": None}}
    ]

    bad_id = await env.client.post("/threads/search", json={"ids": ["nope"]})
    assert (bad_id.status_code, bad_id.json()) == (400, {"detail": "Invalid thread ID nope"})
    bad_select = await env.client.post("/threads/search", json={"select": ["context"]})
    assert bad_select.status_code == 422
    assert bad_select.json()["detail"].startswith("Invalid select columns: ['context']")
    bad_root = await env.client.post("/threads/search", json={"extract": {"x": "kwargs.a"}})
    assert (bad_root.status_code, bad_root.json()) == (
        422,
        {"detail": "Extract path 'kwargs.a' must start with one of: config, interrupts, metadata, values"},
    )
    reserved = await env.client.post("/threads/search", json={"extract": {"status": "values.a"}})
    assert reserved.json() == {"detail": "Extract keys cannot use reserved field names: ['status']"}
    bad_alias = await env.client.post("/threads/search", json={"extract": {"1x": "values.a"}})
    assert bad_alias.status_code == 422
    too_many = await env.client.post(
        "/threads/search", json={"extract": {f"a{i}": "values.a" for i in range(11)}}
    )
    assert too_many.json() == {"detail": "Maximum of 10 extract paths allowed, got 11"}
    bad_status = await env.client.post("/threads/search", json={"status": "done"})
    assert bad_status.status_code == 422


async def test_count(env: Env) -> None:
    for n in range(3):
        await _create(env.client, metadata={"group": "c", "even": n % 2 == 0})
    assert (await env.client.post("/threads/count", json={})).json() == 3
    assert (await env.client.post("/threads/count")).json() == 3
    assert (await env.client.post("/threads/count", json={"metadata": {"even": True}})).json() == 2
    assert (await env.client.post("/threads/count", json={"status": "busy"})).json() == 0
    assert (await env.client.post("/threads/count", json={"values": {"a": 1}})).json() == 0
    assert (await env.client.post("/threads/count", json={"limit": 3})).status_code == 422


async def test_prune_delete(env: Env) -> None:
    keep = (await _create(env.client))["thread_id"]
    gone = [(await _create(env.client))["thread_id"] for _ in range(2)]
    response = await env.client.post("/threads/prune", json={"thread_ids": [*gone, str(uuid.uuid4())]})
    assert (response.status_code, response.json()) == (200, {"pruned_count": 2})
    for tid in gone:
        assert (await env.client.get(f"/threads/{tid}")).status_code == 404
    assert (await env.client.get(f"/threads/{keep}")).status_code == 200
    assert (await env.client.post("/threads/prune", json={"thread_ids": []})).json() == {"pruned_count": 0}
    bad = await env.client.post("/threads/prune", json={"thread_ids": ["nope"]})
    assert (bad.status_code, bad.json()) == (422, {"detail": "Invalid thread ID: must be a UUID"})
    bad_strategy = await env.client.post("/threads/prune", json={"thread_ids": [keep], "strategy": "all"})
    assert bad_strategy.status_code == 422
    assert (await env.client.post("/threads/prune", json={})).status_code == 422


async def test_copy_without_state_copies_metadata(env: Env) -> None:
    source = await _create(env.client, metadata={"purpose": "copy"})
    copied = await env.client.post(f"/threads/{source['thread_id']}/copy")
    assert copied.status_code == 200
    body = copied.json()
    assert list(body) == THREAD_KEYS
    assert body["thread_id"] != source["thread_id"]
    assert (body["metadata"], body["status"], body["values"]) == ({"purpose": "copy"}, "idle", None)


async def test_storage_of_a_thread_without_checkpoints(env: Env) -> None:
    tid = (await _create(env.client))["thread_id"]
    response = await env.client.get(f"/threads/{tid}/storage")
    assert response.status_code == 200
    assert response.json() == {
        "thread_id": tid,
        "total_bytes": 0,
        "checkpoints": {"count": 0, "bytes": 0},
        "channel_values": {"count": 0, "bytes": 0, "by_channel": {}},
        "pending_writes": {"count": 0, "bytes": 0},
    }


# --- state ----------------------------------------------------------------------------------------


async def test_state_of_a_thread_that_never_ran(env: Env) -> None:
    tid = (await _create(env.client))["thread_id"]
    state = await env.client.get(f"/threads/{tid}/state")
    assert state.status_code == 200
    assert state.json() == {
        "values": {},
        "next": [],
        "tasks": [],
        "metadata": None,
        "created_at": None,
        "checkpoint": None,
        "parent_checkpoint": None,
        "interrupts": [],
        "checkpoint_id": None,
        "parent_checkpoint_id": None,
    }
    assert (await env.client.get(f"/threads/{tid}/history")).json() == []
    assert (await env.client.post(f"/threads/{tid}/history", json={"limit": 5})).json() == []
    update = await env.client.post(f"/threads/{tid}/state", json={"values": {"items": ["x"]}})
    assert update.status_code == 400
    assert update.json()["detail"].startswith(f"Thread '{tid}' has no assigned graph ID.")


async def test_state_update_is_refused_while_a_run_is_in_flight(env: Env) -> None:
    tid = (await _create(env.client, metadata={"graph_id": "agent"}))["thread_id"]
    await _add_run(env, tid, status="running")
    response = await env.client.post(f"/threads/{tid}/state", json={"values": {"items": ["x"]}})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "Thread is busy with a running job. Cannot update state."},
    )


async def test_supersteps_need_a_graph_and_failures_leave_no_thread(fn_env: Env) -> None:
    tid = str(uuid.uuid4())
    no_graph = await fn_env.client.post(
        "/threads",
        json={"thread_id": tid, "supersteps": [{"updates": [{"values": {}, "as_node": "step_a"}]}]},
    )
    assert no_graph.status_code == 400
    assert "has no assigned graph ID" in no_graph.json()["detail"]
    assert (await fn_env.client.get(f"/threads/{tid}")).status_code == 404
    bad_node = await fn_env.client.post(
        "/threads",
        json={
            "thread_id": tid,
            "metadata": {"graph_id": "agent"},
            "supersteps": [{"updates": [{"values": {"items": ["x"]}, "as_node": "no_such_node"}]}],
        },
    )
    assert bad_node.status_code == 400
    assert (await fn_env.client.get(f"/threads/{tid}")).status_code == 404
    assert await _rows(fn_env, tid) == 0


async def test_create_with_supersteps_sets_the_thread_state(fn_env: Env) -> None:
    thread = await _with_state(fn_env.client)
    assert (thread["status"], thread["values"], thread["interrupts"], thread["error"]) == (
        "interrupted",
        {"items": ["x", "a"]},
        {},
        None,
    )
    assert thread["state_updated_at"] >= thread["created_at"]
    state = (await fn_env.client.get(f"/threads/{thread['thread_id']}/state")).json()
    assert state["values"] == {"items": ["x", "a"]}
    assert state["next"] == ["step_b"]
    assert state["checkpoint"]["thread_id"] == thread["thread_id"]
    assert state["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]


async def test_update_state_answers_the_checkpoint_and_updates_the_thread(fn_env: Env) -> None:
    thread = await _with_state(fn_env.client)
    tid = thread["thread_id"]
    before = (await fn_env.client.get(f"/threads/{tid}/state")).json()
    async with fn_env.services.broker.subscribe(fn_env.services.keys.thread_stream_channel(tid)) as sub:
        response = await fn_env.client.post(
            f"/threads/{tid}/state", json={"values": {"items": ["manual"]}, "as_node": "step_b"}
        )
        assert response.status_code == 200, response.text
        published = await asyncio.wait_for(sub.get(), timeout=5)
    body = response.json()
    assert list(body) == ["checkpoint", "configurable", "checkpoint_id"]
    assert body["checkpoint"] == body["configurable"]
    assert body["checkpoint"]["thread_id"] == tid
    assert body["checkpoint"]["checkpoint_ns"] == ""
    assert body["checkpoint_id"] == body["checkpoint"]["checkpoint_id"]

    updated = (await fn_env.client.get(f"/threads/{tid}")).json()
    assert (updated["status"], updated["values"]) == ("idle", {"items": ["x", "a", "manual"]})
    assert updated["state_updated_at"] > thread["state_updated_at"]

    frame = Frame.decode_pubsub(published)
    assert frame.event == "state_update"
    payload = orjson.loads(frame.data)
    assert payload["thread_id"] == tid
    assert payload["state"]["values"] == {"items": ["x", "a", "manual"]}
    assert payload["state"]["checkpoint_id"] == body["checkpoint_id"]
    stored = cast(
        list[tuple[bytes, dict[bytes, bytes]]],
        await fn_env.services.redis.xrange(fn_env.services.keys.thread_events(tid)),
    )
    # one from the supersteps at creation, one from this update; both replayable
    assert [fields[b"e"] for _, fields in stored] == [b"state_update", b"state_update"]
    assert stored[-1][0].decode() == frame.id
    assert orjson.loads(stored[0][1][b"d"])["state"]["values"] == {"items": ["x", "a"]}

    at_old = await fn_env.client.get(f"/threads/{tid}/state/{before['checkpoint_id']}")
    assert at_old.json()["values"] == {"items": ["x", "a"]}
    posted = await fn_env.client.post(
        f"/threads/{tid}/state/checkpoint", json={"checkpoint": {"checkpoint_id": before["checkpoint_id"]}}
    )
    assert posted.json() == at_old.json()

    # writing at an older checkpoint forks from it
    forked = await fn_env.client.post(
        f"/threads/{tid}/state",
        json={"values": {"items": ["fork"]}, "as_node": "step_b", "checkpoint_id": before["checkpoint_id"]},
    )
    assert forked.status_code == 200
    assert (await fn_env.client.get(f"/threads/{tid}")).json()["values"] == {"items": ["x", "a", "fork"]}


async def test_state_select_and_refusals(fn_env: Env) -> None:
    tid = (await _with_state(fn_env.client))["thread_id"]
    picked = await fn_env.client.get(f"/threads/{tid}/state", params={"select": ["values.items", "next"]})
    assert picked.json() == {"next": ["step_b"], "values": {"items": ["x", "a"]}}
    bad = await fn_env.client.get(f"/threads/{tid}/state", params={"select": "kwargs"})
    assert bad.status_code == 422
    bad_node = await fn_env.client.post(
        f"/threads/{tid}/state", json={"values": {"items": []}, "as_node": "nope"}
    )
    assert bad_node.status_code == 400
    unknown_field = await fn_env.client.post(f"/threads/{tid}/state", json={"values": {}, "mode": "x"})
    assert unknown_field.status_code == 422


async def test_history_newest_first_with_limit_before_and_metadata(fn_env: Env) -> None:
    tid = (await _with_state(fn_env.client))["thread_id"]
    await fn_env.client.post(f"/threads/{tid}/state", json={"values": {"items": ["m"]}, "as_node": "step_b"})
    everything = (await fn_env.client.post(f"/threads/{tid}/history", json={"limit": 10})).json()
    assert [s["values"].get("items") for s in everything][:3] == [["x", "a", "m"], ["x", "a"], ["x"]]
    assert everything[0]["parent_checkpoint"]["checkpoint_id"] == everything[1]["checkpoint"]["checkpoint_id"]
    two = await fn_env.client.get(f"/threads/{tid}/history", params={"limit": 2})
    assert [s["checkpoint_id"] for s in two.json()] == [s["checkpoint_id"] for s in everything[:2]]
    older = await fn_env.client.get(
        f"/threads/{tid}/history", params={"before": everything[0]["checkpoint_id"]}
    )
    assert older.json()[0]["checkpoint_id"] == everything[1]["checkpoint_id"]
    older_post = await fn_env.client.post(
        f"/threads/{tid}/history",
        json={"limit": 1, "before": {"checkpoint_id": everything[0]["checkpoint_id"]}},
    )
    assert [s["checkpoint_id"] for s in older_post.json()] == [everything[1]["checkpoint_id"]]
    one = await fn_env.client.post(f"/threads/{tid}/history")
    assert len(one.json()) == 1
    by_meta = await fn_env.client.post(f"/threads/{tid}/history", json={"limit": 10, "metadata": {"step": 1}})
    assert [s["metadata"]["step"] for s in by_meta.json()] == [1]
    selected = await fn_env.client.post(f"/threads/{tid}/history", json={"limit": 1, "select": ["values"]})
    assert selected.json() == [{"values": {"items": ["x", "a", "m"]}}]
    bad = await fn_env.client.get(f"/threads/{tid}/history", params={"limit": "many"})
    assert (bad.status_code, bad.json()) == (422, {"detail": "Invalid limit many"})


async def test_copy_prune_storage_and_delete_with_checkpoints(fn_env: Env) -> None:
    client = fn_env.client
    tid = (await _with_state(client, purpose="copy"))["thread_id"]
    source_history = (await client.post(f"/threads/{tid}/history", json={"limit": 10})).json()

    copied = (await client.post(f"/threads/{tid}/copy")).json()
    cid = copied["thread_id"]
    assert (copied["metadata"]["purpose"], copied["values"], copied["status"]) == (
        "copy",
        {"items": ["x", "a"]},
        "interrupted",
    )
    copy_history = (await client.post(f"/threads/{cid}/history", json={"limit": 10})).json()
    assert [s["checkpoint_id"] for s in copy_history] == [s["checkpoint_id"] for s in source_history]
    assert all(s["checkpoint"]["thread_id"] == cid for s in copy_history)
    await client.post(f"/threads/{cid}/state", json={"values": {"items": ["copy-only"]}, "as_node": "step_b"})
    assert (await client.get(f"/threads/{tid}/state")).json()["values"] == {"items": ["x", "a"]}

    storage = (await client.get(f"/threads/{tid}/storage")).json()
    assert storage["checkpoints"]["count"] == len(source_history)
    assert storage["total_bytes"] > 0

    pruned = await client.post("/threads/prune", json={"thread_ids": [tid], "strategy": "keep_latest"})
    assert pruned.json() == {"pruned_count": 1}
    after = (await client.post(f"/threads/{tid}/history", json={"limit": 10})).json()
    assert [s["checkpoint_id"] for s in after] == [source_history[0]["checkpoint_id"]]
    assert after[0]["values"] == {"items": ["x", "a"]}
    assert len((await client.post(f"/threads/{cid}/history", json={"limit": 10})).json()) > 1

    assert await _rows(fn_env, tid) > 0
    assert (await client.delete(f"/threads/{tid}")).status_code == 204
    assert await _rows(fn_env, tid) == 0
    assert await _rows(fn_env, cid) > 0


async def test_the_official_sdk_drives_every_thread_endpoint(fn_env: Env) -> None:
    sdk: Any = LangGraphClient(fn_env.client)  # the SDK's TypedDicts are narrower than the wire
    tid = str(uuid.uuid4())
    thread = await sdk.threads.create(
        metadata={"purpose": "sdk"},
        thread_id=tid,
        if_exists="raise",
        graph_id="agent",
        ttl=60,
        supersteps=[
            {"updates": [{"values": {"items": ["x"]}, "as_node": "__start__"}]},
            {"updates": [{"values": {"items": ["a"]}, "as_node": "step_a"}]},
        ],
    )
    assert (thread["metadata"], thread["values"]) == (
        {"purpose": "sdk", "graph_id": "agent"},
        {"items": ["x", "a"]},
    )
    assert await sdk.threads.create(thread_id=tid, if_exists="do_nothing") == await sdk.threads.get(tid)
    with pytest.raises(ConflictError):
        await sdk.threads.create(thread_id=tid)
    assert (await sdk.threads.get(tid, include=["ttl"]))["ttl"]["ttl_minutes"] == 60

    updated = await sdk.threads.update(tid, metadata={"more": 1}, ttl={"ttl": 5, "strategy": "delete"})
    assert updated is not None
    assert updated["metadata"]["more"] == 1
    assert await sdk.threads.update(tid, metadata={"min": 1}, return_minimal=True) is None

    found = await sdk.threads.search(
        metadata={"purpose": "sdk"},
        values={"items": ["x", "a"]},
        ids=[tid],
        status="interrupted",
        limit=5,
        offset=0,
        sort_by="updated_at",
        sort_order="desc",
        select=["thread_id", "status"],
        extract={"first": "values.items[0]"},
    )
    assert found == [{"thread_id": tid, "status": "interrupted", "extracted": {"first": "x"}}]
    assert (
        await sdk.threads.count(metadata={"purpose": "sdk"}, values={"items": ["x"]}, status="interrupted")
        == 1
    )

    state = await sdk.threads.get_state(tid, subgraphs=True, select=["values", "next", "checkpoint"])
    assert state == {"values": {"items": ["x", "a"]}, "next": ["step_b"], "checkpoint": state["checkpoint"]}
    written = await sdk.threads.update_state(tid, {"items": ["s"]}, as_node="step_b", checkpoint_id=None)
    assert written["checkpoint"]["thread_id"] == tid
    history = await sdk.threads.get_history(tid, limit=10, metadata={"source": "update"}, select=["values"])
    assert [h["values"]["items"][-1] for h in history] == ["s", "a", "x"]
    older = await sdk.threads.get_history(tid, limit=1, before=written["checkpoint"])
    assert older[0]["values"] == {"items": ["x", "a"]}
    at = await sdk.threads.get_state(tid, checkpoint_id=older[0]["checkpoint"]["checkpoint_id"])
    assert at["values"] == {"items": ["x", "a"]}
    at_config = await sdk.threads.get_state(tid, checkpoint=older[0]["checkpoint"], select=["values"])
    assert at_config == {"values": {"items": ["x", "a"]}}
    forked = await sdk.threads.update_state(
        tid, {"items": ["f"]}, as_node="step_b", checkpoint=older[0]["checkpoint"]
    )
    assert forked["checkpoint_id"] != written["checkpoint_id"]

    copied = await sdk.threads.copy(tid)
    assert copied is not None
    assert copied["values"] == {"items": ["x", "a", "f"]}
    assert await sdk.threads.prune([copied["thread_id"]], strategy="keep_latest") == {"pruned_count": 1}
    assert await sdk.threads.prune([copied["thread_id"]]) == {"pruned_count": 1}
    await sdk.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await sdk.threads.get(tid)
    with pytest.raises(UnprocessableEntityError):
        await sdk.threads.get("nope")


async def test_ttl_sweep_deletes_or_prunes_expired_threads(fn_env: Env) -> None:
    client, services = fn_env.client, fn_env.services
    doomed = (await _create(client, ttl={"ttl": 1}))["thread_id"]
    pruned = (await _with_state(client))["thread_id"]
    await client.patch(f"/threads/{pruned}", json={"ttl": {"strategy": "keep_latest", "ttl": 10}})
    await client.post(f"/threads/{pruned}/state", json={"values": {"items": ["m"]}, "as_node": "step_b"})
    busy = (await _create(client, ttl={"ttl": 1}))["thread_id"]
    await services.pool.execute("UPDATE threads SET status = 'busy' WHERE thread_id = $1", busy)
    fresh = (await _create(client, ttl={"ttl": 1}))["thread_id"]
    assert await threads_service.sweep_expired(services) == 0

    await services.pool.execute(
        "UPDATE threads SET expires_at = now() - interval '1 second' WHERE thread_id = ANY($1::uuid[])",
        [doomed, pruned, busy],
    )
    assert await threads_service.sweep_expired(services) == 2
    assert (await client.get(f"/threads/{doomed}")).status_code == 404
    assert (await client.get(f"/threads/{busy}")).status_code == 200
    assert (await client.get(f"/threads/{fresh}")).status_code == 200
    kept = (await client.get(f"/threads/{pruned}", params={"include": "ttl"})).json()
    assert kept["values"] == {"items": ["x", "a", "m"]}
    assert kept["ttl"]["expires_at"] > kept["updated_at"]
    history = (await client.post(f"/threads/{pruned}/history", json={"limit": 10})).json()
    assert [h["values"] for h in history] == [{"items": ["x", "a", "m"]}]
    assert await threads_service.sweep_expired(services) == 0
