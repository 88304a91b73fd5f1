"""The function app over ASGI with real binary-mode CloudEvents: runs, state and graph-info
requests, and the FAILED replies for requests it cannot serve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel
from redis.asyncio import Redis

from contracts import runtime as rt
from contracts.queue import Keys
from functions.app import create_app
from functions.settings import FunctionSettings
from tests.functions.conftest import CONFIG_PATH, MakeRequest, Subscribe, function_client


@pytest.fixture
async def client(pg_dsn: str, redis_url: str, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with function_client(pg_dsn, redis_url, CONFIG_PATH) as client:
        yield client


async def send(client: httpx.AsyncClient, event_type: str, payload: BaseModel | bytes, **ext: str) -> Any:
    data = payload if isinstance(payload, bytes) else payload.model_dump_json().encode()
    attributes = {
        "type": event_type,
        "source": rt.SPEC_SOURCE_ROUTER,
        "datacontenttype": "application/json",
        **ext,
    }
    message = to_binary(CloudEvent(attributes=attributes, data=data), JSONFormat())
    response = await client.post("/", content=message.body, headers=message.headers)
    reply = from_binary(HTTPMessage(dict(response.headers), response.content), JSONFormat(), CloudEvent)
    return response, reply


async def test_healthz_is_ok_once_started(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_run_request_gets_an_outcome_event(
    client: httpx.AsyncClient, make_request: MakeRequest, subscribe: Subscribe, keys: Keys
) -> None:
    req = make_request(input={"items": ["x"]}, stream_mode=["updates"])
    channel = await subscribe(keys.run_stream_channel(req.run_id))
    response, reply = await send(client, rt.RUN_REQUESTED, req, runid=req.run_id, attempt="1")
    await channel.drain()

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert reply.get_type() == rt.RUN_OUTCOME
    assert reply.get_source() == rt.SPEC_SOURCE_FUNCTION
    assert reply.get_extension(rt.EXT_RUN_ID) == req.run_id
    assert reply.get_extension(rt.EXT_ATTEMPT) == "1"
    outcome = rt.RunOutcome.model_validate(reply.get_data())
    assert outcome.status == "success"
    assert outcome.values == {"items": ["x", "a", "b"]}
    assert channel.events() == ["metadata", "updates", "updates"]


async def test_state_get_history_and_update(
    client: httpx.AsyncClient, make_request: MakeRequest, thread_id: str
) -> None:
    await send(client, rt.RUN_REQUESTED, make_request(input={"items": ["x"]}))

    _, got = await send(
        client, rt.STATE_GET_REQUESTED, rt.StateGetRequest(graph_id="agent", thread_id=thread_id)
    )
    assert got.get_type() == rt.STATE
    assert got.get_data()["values"] == {"items": ["x", "a", "b"]}

    history_req = rt.StateHistoryRequest(graph_id="agent", thread_id=thread_id, limit=2)
    _, history = await send(client, rt.STATE_HISTORY_REQUESTED, history_req)
    assert history.get_type() == rt.STATE_HISTORY
    assert [h["values"] for h in history.get_data()] == [{"items": ["x", "a", "b"]}, {"items": ["x", "a"]}]

    update = rt.StateUpdateRequest(
        graph_id="agent", thread_id=thread_id, values={"items": ["u"]}, as_node="step_b"
    )
    _, updated = await send(client, rt.STATE_UPDATE_REQUESTED, update)
    assert updated.get_type() == rt.STATE_UPDATED
    assert rt.StateUpdateResult.model_validate(updated.get_data()).values == {"items": ["x", "a", "b", "u"]}


async def test_graph_info_request(client: httpx.AsyncClient) -> None:
    _, reply = await send(
        client, rt.GRAPH_INFO_REQUESTED, rt.GraphInfoRequest(graph_id="agent", kind="graph")
    )

    info = rt.GraphInfo.model_validate(reply.get_data())
    assert reply.get_type() == rt.GRAPH_INFO
    assert (info.graph_id, info.kind) == ("agent", "graph")
    assert {"step_a", "step_b"} <= {node["id"] for node in info.body["nodes"]}


async def test_unknown_graph_is_404(client: httpx.AsyncClient, make_request: MakeRequest) -> None:
    req = make_request("nope", input={})
    response, reply = await send(client, rt.RUN_REQUESTED, req)

    assert response.status_code == 404
    assert reply.get_type() == rt.FAILED
    failure = rt.Failure.model_validate(reply.get_data())
    assert failure.error == "GraphNotFoundError"
    assert "nope" in failure.message


async def test_unknown_event_type_is_400(client: httpx.AsyncClient) -> None:
    response, reply = await send(client, "dev.langopen.nonsense.v1", b"{}")

    assert response.status_code == 400
    assert reply.get_type() == rt.FAILED
    assert "nonsense" in reply.get_data()["message"]


async def test_invalid_payload_is_400(client: httpx.AsyncClient) -> None:
    response, reply = await send(client, rt.RUN_REQUESTED, orjson.dumps({"run_id": "r"}))

    assert response.status_code == 400
    assert rt.Failure.model_validate(reply.get_data()).error == "BadRequestError"


async def test_request_without_cloudevent_headers_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/", content=b"{}", headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.headers["ce-type"] == rt.FAILED
    assert "CloudEvent" in response.json()["message"]


async def test_state_at_missing_checkpoint_update_is_404(client: httpx.AsyncClient, thread_id: str) -> None:
    update = rt.StateUpdateRequest(
        graph_id="agent",
        thread_id=thread_id,
        values={"items": ["u"]},
        as_node="step_a",
        checkpoint={"checkpoint_id": "1f000000-0000-6000-8000-000000000000"},
    )
    response, reply = await send(client, rt.STATE_UPDATE_REQUESTED, update)

    assert response.status_code == 404
    assert reply.get_type() == rt.FAILED


async def test_failing_factory_fails_the_run_and_state_requests(
    client: httpx.AsyncClient, make_request: MakeRequest, thread_id: str
) -> None:
    _, reply = await send(client, rt.RUN_REQUESTED, make_request("broken", input={}))
    outcome = rt.RunOutcome.model_validate(reply.get_data())

    assert outcome.status == "error"
    assert outcome.error == rt.RunError(error="RuntimeError", message="factory broke")

    response, failed = await send(
        client, rt.STATE_GET_REQUESTED, rt.StateGetRequest(graph_id="broken", thread_id=thread_id)
    )
    assert response.status_code == 500
    assert failed.get_type() == rt.FAILED
    assert rt.Failure.model_validate(failed.get_data()) == rt.Failure(
        error="RuntimeError", message="An internal error occurred"
    )


async def test_runs_write_through_the_run_checkpointer_and_the_api_through_the_other(
    pg_dsn: str, redis_url: str
) -> None:
    settings = FunctionSettings(database_url=pg_dsn, redis_url=redis_url, config_path=CONFIG_PATH)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        run_graph = await services.executor.graphs.get_graph("agent", {})
        api_graph = await services.graphs.get_graph("agent", {})
        run_options = run_graph.checkpointer.conn.kwargs.get("options")
        assert run_options == "-c synchronous_commit=off"
        assert api_graph.checkpointer.conn.kwargs.get("options") is None
        assert run_graph.store is api_graph.store
