"""CloudEvents triggers end to end: real CloudEvents (built with the `cloudevents` package) posted in
binary and structured mode to a running router, subscriptions CRUD, filters, input templates,
idempotency under concurrent duplicates, the 4xx answers, and the triggered runs executing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from langgraph_sdk.client import LangGraphClient

from tests.e2e.helpers import raw_client, values_of, wait_for_status
from tests.e2e.stack import Stack


def make_event(type_: str, *, source: str = "/tests/events", data: Any = None, **extra: Any) -> CloudEvent:
    attributes = {"type": type_, "source": source, "id": str(uuid.uuid4()), **extra}
    if data is not None:
        attributes.setdefault("datacontenttype", "application/json")
    return CloudEvent(attributes=attributes, data=data)


async def post(http: httpx.AsyncClient, message: HTTPMessage) -> httpx.Response:
    return await http.post("/events", headers=message.headers, content=message.body)


async def subscribe(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/events/subscriptions", json={"assistant_id": "agent", **body})
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def http(stack: Stack) -> Any:
    async with raw_client(stack.url) as c:
        yield c


async def test_binary_event_runs_the_assistant_with_the_templated_input(
    http: httpx.AsyncClient, client: LangGraphClient
) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    thread_id = str(uuid.uuid4())
    sub = await subscribe(
        http,
        filter={"type": kind},
        input={
            "items": [{"$event": "data.word"}, {"$event": "id"}, {"$event": "data.missing", "default": "d"}]
        },
        thread_mode="fixed",
        thread_id=thread_id,
        metadata={"team": "qa"},
    )
    event = make_event(kind, data={"word": "hello"})
    response = await post(http, to_binary_event(event))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] == event.get_id()
    assert body["duplicate"] is False
    assert [(r["thread_id"], r["subscription_id"]) for r in body["runs"]] == [
        (thread_id, sub["subscription_id"])
    ]
    run = await wait_for_status(client, thread_id, body["runs"][0]["run_id"])
    assert run["status"] == "success"
    assert run["metadata"]["event_id"] == event.get_id()
    assert run["metadata"]["event_type"] == kind
    assert run["metadata"]["team"] == "qa"
    state = await client.threads.get_state(thread_id)
    assert values_of(state["values"])["items"] == ["hello", event.get_id(), "d", "a", "b"]


async def test_structured_event_matches_source_and_subject_prefixes(
    http: httpx.AsyncClient, client: LangGraphClient
) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    source = f"/github/{uuid.uuid4().hex}"
    both = await subscribe(
        http,
        filter={"type": kind, "source_prefix": "/github/", "subject_prefix": "repo/"},
        input={"items": [{"$event": "subject"}]},
        thread_mode="subject",
    )
    exact = await subscribe(
        http,
        filter={"source": source, "subject": "repo/a"},
        input={"items": ["exact"]},
        thread_mode="subject",
    )
    other_type = await subscribe(http, filter={"type": kind + ".other"}, thread_mode="stateless")

    first = make_event(kind, source=source, subject="repo/a", data={"n": 1})
    response = await post(http, to_structured_event(first))
    assert response.status_code == 202, response.text
    runs = response.json()["runs"]
    assert {r["subscription_id"] for r in runs} == {both["subscription_id"], exact["subscription_id"]}
    assert other_type["subscription_id"] not in {r["subscription_id"] for r in runs}
    by_sub = {r["subscription_id"]: r for r in runs}
    thread_a = by_sub[both["subscription_id"]]["thread_id"]
    await wait_for_status(client, thread_a, by_sub[both["subscription_id"]]["run_id"])

    # same subject: same thread; other subject: another thread; wrong prefix: nothing
    again = await post(http, to_structured_event(make_event(kind, source=source, subject="repo/a")))
    assert (
        again.json()["runs"][0]["thread_id"] == thread_a or again.json()["runs"][1]["thread_id"] == thread_a
    )
    second = await post(http, to_structured_event(make_event(kind, source=source, subject="repo/b")))
    assert [r["subscription_id"] for r in second.json()["runs"]] == [both["subscription_id"]]
    assert second.json()["runs"][0]["thread_id"] != thread_a
    await wait_for_status(client, second.json()["runs"][0]["thread_id"], second.json()["runs"][0]["run_id"])
    state = await client.threads.get_state(second.json()["runs"][0]["thread_id"])
    assert values_of(state["values"])["items"] == ["repo/b", "a", "b"]
    unmatched = await post(http, to_structured_event(make_event(kind, source="/gitlab/x", subject="repo/a")))
    assert unmatched.status_code == 202
    assert unmatched.json()["runs"] == []
    no_subject = await post(http, to_structured_event(make_event(kind, source=source)))
    assert no_subject.json()["runs"] == []  # subject filters and subject threads need a subject


async def test_stateless_subscription_starts_one_run_per_event(http: httpx.AsyncClient) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    await subscribe(http, filter={"type": kind}, input={"items": [{"$event": "data"}]})
    response = await post(http, to_binary_event(make_event(kind, data={"x": 1})))
    assert response.status_code == 202
    (run,) = response.json()["runs"]
    assert str(uuid.UUID(run["run_id"])) == run["run_id"]
    assert str(uuid.UUID(run["thread_id"])) == run["thread_id"]


async def test_concurrent_duplicates_start_runs_once(
    http: httpx.AsyncClient, client: LangGraphClient
) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    thread_id = str(uuid.uuid4())
    await subscribe(
        http, filter={"type": kind}, thread_mode="fixed", thread_id=thread_id, input={"items": ["x"]}
    )
    message = to_binary_event(make_event(kind, data={"k": "v"}))
    answers = await asyncio.gather(*(post(http, message) for _ in range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 7 + [202], [a.text for a in answers]
    runs = {tuple((r["run_id"], r["thread_id"]) for r in a.json()["runs"]) for a in answers}
    assert len(runs) == 1
    assert [a.json()["duplicate"] for a in answers if a.status_code == 200] == [True] * 7
    listed = await client.runs.list(thread_id)
    assert len(listed) == 1
    # a later repeat (structured this time, same source and id) still starts nothing
    later = await http.post(
        "/events",
        headers={"content-type": "application/cloudevents+json"},
        json={
            "specversion": "1.0",
            "id": message.headers["ce-id"],
            "source": "/tests/events",
            "type": kind,
        },
    )
    assert later.status_code == 200
    assert len(await client.runs.list(thread_id)) == 1


async def test_same_id_from_another_source_is_another_event(http: httpx.AsyncClient) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    await subscribe(http, filter={"type": kind})
    shared_id = str(uuid.uuid4())
    one = await post(http, to_binary_event(make_event(kind, source="/a", id=shared_id, data={})))
    two = await post(http, to_binary_event(make_event(kind, source="/b", id=shared_id, data={})))
    assert (one.status_code, two.status_code) == (202, 202)
    assert one.json()["runs"] != two.json()["runs"]


async def test_not_a_cloudevent_is_400_with_the_reason(http: httpx.AsyncClient) -> None:
    plain = await http.post("/events", json={"hello": "world"})
    assert plain.status_code == 400
    assert "Not a CloudEvent" in plain.json()["detail"]
    missing = await http.post(
        "/events", headers={"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}, content=b"{}"
    )
    assert missing.status_code == 400
    assert "missing required attribute(s) id" in missing.json()["detail"]
    broken = await http.post(
        "/events", headers={"content-type": "application/cloudevents+json"}, content=b"{not json"
    )
    assert broken.status_code == 400
    assert "not JSON" in broken.json()["detail"]
    array = await http.post(
        "/events", headers={"content-type": "application/cloudevents+json"}, content=b"[]"
    )
    assert array.status_code == 400


async def test_invalid_attribute_is_422_naming_it(http: httpx.AsyncClient) -> None:
    base = {"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s", "ce-id": "1"}
    version = await http.post("/events", headers={**base, "ce-specversion": "0.3"})
    assert version.status_code == 422
    assert version.json()["detail"].startswith("specversion:")
    when = await http.post("/events", headers={**base, "ce-time": "yesterday"})
    assert when.status_code == 422
    assert when.json()["detail"].startswith("time:")
    empty_id = await http.post(
        "/events",
        headers={"content-type": "application/cloudevents+json"},
        json={"specversion": "1.0", "id": "", "source": "/s", "type": "t"},
    )
    assert empty_id.status_code == 422
    assert empty_id.json()["detail"].startswith("id:")


async def test_batch_and_other_formats_are_415(http: httpx.AsyncClient) -> None:
    batch = await http.post(
        "/events", headers={"content-type": "application/cloudevents-batch+json"}, content=b"[]"
    )
    assert batch.status_code == 415
    assert "batch" in batch.json()["detail"]
    avro = await http.post("/events", headers={"content-type": "application/cloudevents+avro"}, content=b"x")
    assert avro.status_code == 415


async def test_missing_template_value_refuses_the_event_and_records_nothing(http: httpx.AsyncClient) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    await subscribe(http, filter={"type": kind}, input={"items": [{"$event": "data.needed"}]})
    message = to_binary_event(make_event(kind, data={"other": 1}))
    refused = await post(http, message)
    assert refused.status_code == 422
    assert "data.needed" in refused.json()["detail"]
    # nothing was recorded: the same event is evaluated afresh, not answered as a repeat
    assert (await post(http, message)).status_code == 422


async def test_subscriptions_crud(http: httpx.AsyncClient) -> None:
    assistant = (await http.post("/assistants", json={"graph_id": "agent"})).json()
    kind = f"com.example.{uuid.uuid4().hex}"
    created = await subscribe(http, assistant_id=assistant["assistant_id"], filter={"type": kind})
    sub_id = created["subscription_id"]
    assert created["assistant_id"] == assistant["assistant_id"]
    assert created["input"] == {"$event": "data"}
    assert created["thread_mode"] == "stateless"
    assert created["filter"] == {
        "type": kind,
        "source": None,
        "source_prefix": None,
        "subject": None,
        "subject_prefix": None,
    }
    got = await http.get(f"/events/subscriptions/{sub_id}")
    assert got.json() == created
    listed = await http.get("/events/subscriptions", params={"assistant_id": assistant["assistant_id"]})
    assert [s["subscription_id"] for s in listed.json()] == [sub_id]

    patched = await http.patch(
        f"/events/subscriptions/{sub_id}", json={"enabled": False, "filter": {"source_prefix": "/x/"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["filter"]["source_prefix"] == "/x/"
    assert patched.json()["filter"]["type"] is None
    off = await post(http, to_binary_event(make_event(kind, source="/x/1", data={})))
    assert off.json()["runs"] == []
    bad = await http.patch(f"/events/subscriptions/{sub_id}", json={"thread_mode": "fixed"})
    assert bad.status_code == 422
    assert "thread_id" in bad.json()["detail"]
    assert (await http.patch(f"/events/subscriptions/{sub_id}", json={})).status_code == 400

    assert (await http.delete(f"/events/subscriptions/{sub_id}")).status_code == 204
    assert (await http.get(f"/events/subscriptions/{sub_id}")).status_code == 404
    assert (await http.delete(f"/events/subscriptions/{sub_id}")).status_code == 404
    assert (await http.get("/events/subscriptions/not-a-uuid")).status_code == 422


async def test_subscription_validation_names_the_field(http: httpx.AsyncClient) -> None:
    async def refused(body: dict[str, Any]) -> str:
        response = await http.post("/events/subscriptions", json={"assistant_id": "agent", **body})
        assert response.status_code in (404, 422), response.text
        detail: str = response.json()["detail"]
        return detail

    assert "input" in await refused({"input": {"$event": "Data.x"}})
    assert "only 'data' has fields" in await refused({"input": {"$event": "id.x"}})
    assert "default" in await refused({"input": {"$event": "id", "other": 1}})
    assert "source_prefix" in await refused({"filter": {"source": "/a", "source_prefix": "/b"}})
    assert "thread_id" in await refused({"thread_mode": "fixed"})
    assert "thread_id" in await refused({"thread_id": str(uuid.uuid4())})
    assert "filter.kind" in await refused({"filter": {"kind": "x"}})
    assert "not found" in await refused({"assistant_id": str(uuid.uuid4())})


async def test_literal_escape_passes_placeholders_through(
    http: httpx.AsyncClient, client: LangGraphClient
) -> None:
    kind = f"com.example.{uuid.uuid4().hex}"
    thread_id = str(uuid.uuid4())
    await subscribe(
        http,
        assistant_id="config_echo",
        filter={"type": kind},
        thread_mode="fixed",
        thread_id=thread_id,
        input={"kept": {"$literal": {"$event": "id"}}, "source": {"$event": "source"}},
    )
    response = await post(http, to_binary_event(make_event(kind, data={})))
    run = await wait_for_status(client, thread_id, response.json()["runs"][0]["run_id"])
    assert run["kwargs"]["input"] == {"kept": {"$event": "id"}, "source": "/tests/events"}


async def test_events_endpoints_are_in_openapi(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "post" in paths["/events"]
    assert {"post", "get"} <= set(paths["/events/subscriptions"])
    assert {"get", "patch", "delete"} <= set(paths["/events/subscriptions/{subscription_id}"])
