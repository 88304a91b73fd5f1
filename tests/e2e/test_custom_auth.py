"""Custom auth (`auth.path` of langgraph.json) end to end, on its own stack serving the docs' example
(examples/custom_auth: the tutorials "Set up custom authentication" and "Make conversations
private"), driven by the official Python SDK as Alice (`Bearer user1-token`), Bob (`Bearer
user2-token`) and Studio (`X-Auth-Scheme: langsmith`). Raw HTTP only where the SDK hides the status
and body of a refused request.

The official answers these tests pin (langgraph_api 0.16.7, langgraph_runtime_inmem 0.36.7):
- a failing `assert` in the authenticate handler is not an auth error: it escapes the auth
  middleware (auth/custom.py `_authenticate_custom`, `except Exception: raise`) to Starlette's
  server-error handler, a 500; `Auth.exceptions.HTTPException(401)` becomes 401 `{"detail": ...}`
  (custom.py `_authenticate_custom`, middleware.py `on_error`);
- a thread the read filter excludes is `Thread with ID <id> not found` (inmem ops.py `Threads.get`,
  also behind `GET .../state` and `GET .../runs`), a run on it `Thread or assistant not found.`
  (models/run.py `create_valid_run`);
- the graph's default assistant is `created_by: system`, so runs and crons on it skip the
  assistants handler (ops.py `Runs.put`, `Crons.put`);
- the caller in `configurable` is set by the server after the client's reserved keys are stripped
  (validation.py `sanitize_reserved_keys`, models/run.py `create_valid_run`);
- `X-Auth-Scheme: langsmith` under `langgraph dev` is a `StudioUser("langgraph-studio-user")`
  without calling the custom handler (custom.py `CustomAuthBackend.authenticate`,
  `StudioNoopAuthBackend`), unless `disable_studio_auth`; the `@auth.on` handlers still run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Config, Thread

from tests.conftest import REDIS_URL, migrated_database
from tests.e2e.helpers import THREAD_OR_ASSISTANT_NOT_FOUND, raw_client, wire
from tests.e2e.stack import ROOT, Stack

pytestmark = pytest.mark.e2e

EXAMPLE_CONFIG = ROOT / "examples" / "custom_auth" / "langgraph.json"
STUDIO_OFF_CONFIG = ROOT / "tests" / "e2e" / "custom_auth_studio_off" / "langgraph.json"

ALICE = {"Authorization": "Bearer user1-token"}
BOB = {"Authorization": "Bearer user2-token"}
STUDIO = {"X-Auth-Scheme": "langsmith"}

INVALID_TOKEN = {"detail": "Invalid token"}
NO_ASSISTANTS = {"detail": "User lacks the required permissions."}
NOT_AUTHORIZED = {"detail": "Not authorized"}
HELLO = wire({"messages": [{"role": "user", "content": "Hi, this is Alice's private chat"}]})
AGENT_ID = str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent"))
"""The official id of the graph's default assistant (langgraph_api/graph.py `NAMESPACE_GRAPH`)."""
NEVER = "0 0 1 1 *"  # a cron schedule that does not fire during a test


def _stack(tmp_path_factory: pytest.TempPathFactory, config: Path) -> Iterator[Stack]:
    with migrated_database("t_e2e_auth") as dsn:
        s = Stack(
            database_url=dsn,
            redis_url=REDIS_URL,
            redis_prefix=f"langopen-e2e:{uuid.uuid4().hex[:8]}",
            workdir=tmp_path_factory.mktemp("auth"),
            config=config,
        )
        try:
            s.start()
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="module")
def auth_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The example app on a dev-style stack: no API keys, so Studio requests are anonymous."""
    yield from _stack(tmp_path_factory, EXAMPLE_CONFIG)


@pytest.fixture(scope="module")
def studio_off_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same app with `"disable_studio_auth": true`."""
    yield from _stack(tmp_path_factory, STUDIO_OFF_CONFIG)


@asynccontextmanager
async def _client(url: str, headers: dict[str, str]) -> AsyncIterator[LangGraphClient]:
    c = get_client(url=url, api_key=None, headers=headers)
    try:
        yield c
    finally:
        await c.http.client.aclose()


@pytest.fixture
async def alice(auth_stack: Stack) -> AsyncIterator[LangGraphClient]:
    async with _client(auth_stack.url, ALICE) as c:
        yield c


@pytest.fixture
async def bob(auth_stack: Stack) -> AsyncIterator[LangGraphClient]:
    async with _client(auth_stack.url, BOB) as c:
        yield c


@pytest.fixture
async def studio(auth_stack: Stack) -> AsyncIterator[LangGraphClient]:
    async with _client(auth_stack.url, STUDIO) as c:
        yield c


async def _refused(call: Awaitable[object], status: int, body: dict[str, str] | None = None) -> None:
    """`call` fails with `status`, and with exactly `body` when given. (`httpx.HTTPStatusError`: the
    SDK's typed errors derive from it, and `runs.wait` raises it untyped.)"""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await call
    assert refused.value.response.status_code == status
    if body is not None:
        assert refused.value.response.json() == body


def _thread_gone(thread_id: str) -> dict[str, str]:
    return {"detail": f"Thread with ID {thread_id} not found"}


def _owner(thread: Thread) -> object:
    metadata = thread["metadata"]
    assert isinstance(metadata, dict), thread
    return metadata.get("owner")


def _values(output: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    assert isinstance(output, dict), output
    return output


# --- authenticate -------------------------------------------------------------------------------


async def test_meta_routes_need_no_token(auth_stack: Stack) -> None:
    async with raw_client(auth_stack.url) as http:
        for path in ("/ok", "/openapi.json", "/docs"):
            assert (await http.get(path)).status_code == 200, path


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjE6cGFzcw=="}],
    ids=["no-authorization", "not-bearer"],
)
async def test_a_failing_assert_in_authenticate_is_a_500_as_on_the_official_server(
    auth_stack: Stack, headers: dict[str, str]
) -> None:
    # `assert authorization` / `assert scheme.lower() == "bearer"` raise AssertionError, which the
    # official server does not turn into 401/403: it reaches the server-error handler
    async with raw_client(auth_stack.url) as http:
        created = await http.post("/threads", json={}, headers=headers)
        assert created.status_code == 500
        searched = await http.post("/threads/search", json={}, headers=headers)
        assert searched.status_code == 500


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/threads", {}),
        ("POST", "/threads/search", {}),
        ("POST", "/assistants/search", {}),
        ("PUT", "/store/items", {"namespace": ["user1"], "key": "k", "value": {}}),
        ("POST", "/runs/wait", {"assistant_id": "agent", "input": HELLO}),
    ],
)
async def test_an_unknown_token_is_401_invalid_token(
    auth_stack: Stack, method: str, path: str, body: dict[str, Any]
) -> None:
    async with raw_client(auth_stack.url) as http:
        response = await http.request(
            method, path, json=body, headers={"Authorization": "Bearer mallory-token"}
        )
    assert (response.status_code, response.json()) == (401, INVALID_TOKEN)


# --- threads: the docs' scenario --------------------------------------------------------------------


async def test_threads_are_private_to_their_owner(alice: LangGraphClient, bob: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    alice_thread = await alice.threads.create(metadata={"scenario": tag})
    alice_id = alice_thread["thread_id"]
    assert _owner(alice_thread) == "user1"
    out = _values(await alice.runs.wait(alice_id, "agent", input=HELLO))
    assert out["messages"][-1]["content"] == "You said: Hi, this is Alice's private chat"

    await _refused(bob.threads.get(alice_id), 404, _thread_gone(alice_id))

    # the threads.create handler sets the owner: a client cannot claim someone else's
    bob_thread = await bob.threads.create(metadata={"scenario": tag, "owner": "user1"})
    bob_id = bob_thread["thread_id"]
    assert _owner(bob_thread) == "user2"

    for client, own in ((alice, alice_id), (bob, bob_id)):
        found = await client.threads.search(metadata={"scenario": tag})
        assert [t["thread_id"] for t in found] == [own]
        assert await client.threads.count(metadata={"scenario": tag}) == 1
    everything_bob_sees = await bob.threads.search(limit=1000)
    assert alice_id not in [t["thread_id"] for t in everything_bob_sees]
    assert {_owner(t) for t in everything_bob_sees} == {"user2"}

    assert _owner(await alice.threads.get(alice_id)) == "user1"


async def test_another_user_cannot_touch_the_thread(alice: LangGraphClient, bob: LangGraphClient) -> None:
    thread_id = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(thread_id, "agent", input=HELLO)
    gone = _thread_gone(thread_id)

    await _refused(
        bob.runs.create(thread_id, "agent", input=HELLO), 404, {"detail": THREAD_OR_ASSISTANT_NOT_FOUND}
    )
    await _refused(
        bob.runs.wait(thread_id, "agent", input=HELLO), 404, {"detail": THREAD_OR_ASSISTANT_NOT_FOUND}
    )
    await _refused(bob.threads.get_state(thread_id), 404, gone)
    await _refused(bob.threads.update(thread_id, metadata={"owner": "user2"}), 404)
    await _refused(bob.threads.delete(thread_id), 404, gone)
    await _refused(bob.runs.list(thread_id), 404, gone)

    # nothing Bob tried changed Alice's thread
    mine = await alice.threads.get(thread_id)
    assert _owner(mine) == "user1"
    assert len(await alice.runs.list(thread_id)) == 1
    state = await alice.threads.get_state(thread_id)
    assert isinstance(state["values"], dict)
    assert state["values"]["caller"] == "user1"


# --- assistants and store -----------------------------------------------------------------------------


async def test_every_assistants_request_is_refused(alice: LangGraphClient, bob: LangGraphClient) -> None:
    for client in (alice, bob):
        await _refused(client.assistants.create("agent"), 403, NO_ASSISTANTS)
        await _refused(client.assistants.search(), 403, NO_ASSISTANTS)
        await _refused(client.assistants.get(AGENT_ID), 403, NO_ASSISTANTS)
        # a graph id is not an assistant id in the path: the official server checks for a UUID
        # before the handler runs (api/assistants.py `get_assistant`)
        await _refused(client.assistants.get("agent"), 422)


async def test_store_namespaces_start_with_the_callers_identity(
    alice: LangGraphClient, bob: LangGraphClient
) -> None:
    key = uuid.uuid4().hex
    mine = ("user1", "memories")
    await alice.store.put_item(mine, key, {"text": "likes tea"})
    item = await alice.store.get_item(mine, key)
    assert item is not None
    assert item["value"] == {"text": "likes tea"}
    found = await alice.store.search_items(mine)
    assert key in [i["key"] for i in found["items"]]
    namespaces = await alice.store.list_namespaces(prefix=["user1"])
    assert ["user1", "memories"] in [list(ns) for ns in namespaces["namespaces"]]

    theirs = ("user2", "x")
    await _refused(alice.store.put_item(theirs, key, {"text": "sneaky"}), 403, NOT_AUTHORIZED)
    await _refused(alice.store.get_item(theirs, key), 403, NOT_AUTHORIZED)
    await _refused(alice.store.search_items(("user2",)), 403, NOT_AUTHORIZED)
    await _refused(alice.store.list_namespaces(prefix=["user2"]), 403, NOT_AUTHORIZED)
    await _refused(alice.store.delete_item(theirs, key), 403, NOT_AUTHORIZED)
    await _refused(bob.store.get_item(mine, key), 403, NOT_AUTHORIZED)
    await _refused(bob.store.delete_item(mine, key), 403, NOT_AUTHORIZED)
    assert await alice.store.get_item(mine, key) is not None  # Bob's delete did not happen


# --- the graph sees the caller ------------------------------------------------------------------------


async def test_the_graph_sees_the_caller_and_a_client_cannot_spoof_it(
    alice: LangGraphClient, bob: LangGraphClient
) -> None:
    for client, identity in ((alice, "user1"), (bob, "user2")):
        thread_id = (await client.threads.create())["thread_id"]
        out = _values(await client.runs.wait(thread_id, "agent", input=HELLO))
        assert out["caller"] == identity

    thread_id = (await alice.threads.create())["thread_id"]
    spoofed: Config = {
        "configurable": {
            "langgraph_auth_user_id": "mallory",
            "langgraph_auth_user": {"identity": "mallory"},
            "langgraph_auth_permissions": ["admin"],
        }
    }
    run = await alice.runs.create(thread_id, "agent", input=HELLO, config=spoofed)
    out = _values(await alice.runs.join(thread_id, run["run_id"]))
    assert out["caller"] == "user1"
    stored = wire(await alice.runs.get(thread_id, run["run_id"]))
    configurable = stored["kwargs"]["config"]["configurable"]
    assert configurable["langgraph_auth_user_id"] == "user1"
    assert configurable["langgraph_auth_permissions"] == []


# --- crons ---------------------------------------------------------------------------------------------


async def test_crons_are_private_to_their_owner(alice: LangGraphClient, bob: LangGraphClient) -> None:
    thread_id = (await alice.threads.create())["thread_id"]
    cron = wire(await alice.crons.create_for_thread(thread_id, "agent", schedule=NEVER, input=HELLO))
    cron_id = cron["cron_id"]
    try:
        assert [c["cron_id"] for c in await alice.crons.search(thread_id=thread_id)] == [cron_id]
        assert await bob.crons.search(thread_id=thread_id) == []
        assert cron_id not in [c["cron_id"] for c in await bob.crons.search(limit=1000)]
        assert await bob.crons.count(thread_id=thread_id) == 0
        await _refused(
            bob.crons.create_for_thread(thread_id, "agent", schedule=NEVER, input=HELLO),
            404,
        )
    finally:
        await alice.crons.delete(cron_id)


# --- Studio ------------------------------------------------------------------------------------------


async def test_studio_requests_skip_the_token_check_but_not_the_handlers(
    auth_stack: Stack, alice: LangGraphClient, studio: LangGraphClient
) -> None:
    alice_id = (await alice.threads.create())["thread_id"]

    studio_thread = await studio.threads.create()  # no Authorization header, yet not refused
    studio_id = studio_thread["thread_id"]
    studio_owner = _owner(studio_thread)  # threads.create still ran, with the Studio identity
    assert isinstance(studio_owner, str)
    assert studio_owner
    assert studio_owner not in ("user1", "user2")

    seen_by_studio = [t["thread_id"] for t in await studio.threads.search(limit=1000)]
    assert alice_id not in seen_by_studio
    assert studio_id in seen_by_studio
    await _refused(studio.threads.get(alice_id), 404, _thread_gone(alice_id))
    await _refused(alice.threads.get(studio_id), 404, _thread_gone(studio_id))
    await _refused(studio.assistants.search(), 403, NO_ASSISTANTS)

    # the custom handler is not consulted at all: a token it would refuse does not matter
    async with raw_client(auth_stack.url) as http:
        response = await http.post(
            "/threads/search", json={}, headers={**STUDIO, "Authorization": "Bearer mallory-token"}
        )
    assert response.status_code == 200
    assert alice_id not in [t["thread_id"] for t in response.json()]


async def test_disable_studio_auth_sends_studio_requests_through_the_custom_handler(
    studio_off_stack: Stack,
) -> None:
    async with _client(studio_off_stack.url, {**STUDIO, **ALICE}) as alice_from_studio:
        thread = await alice_from_studio.threads.create()
        assert _owner(thread) == "user1"
    async with raw_client(studio_off_stack.url) as http:
        bad_token = await http.post(
            "/threads", json={}, headers={**STUDIO, "Authorization": "Bearer mallory-token"}
        )
        assert (bad_token.status_code, bad_token.json()) == (401, INVALID_TOKEN)
        no_token = await http.post("/threads", json={}, headers=STUDIO)
        assert no_token.status_code == 500  # the handler's `assert authorization`, as without STUDIO
