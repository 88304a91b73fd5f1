"""A2A endpoint: `POST /a2a/{assistant_id}` (JSON-RPC 2.0, both method families) and the agent
cards (`GET /.well-known/agent-card.json?assistant_id=…`, `GET /a2a/{id}`,
`GET /a2a/{id}/.well-known/agent-card.json` and `…/agent.json`).

`SendMessage` waits for the run and answers with the task; `SendStreamingMessage` answers with SSE
frames named `message`, each a JSON-RPC response: the submitted task, a `working` status update per
streamed message, the answer as an artifact, and the final status update.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from contracts import frames
from router.api import jsonrpc as rpc_http
from router.api import runs as runs_api
from router.api import stream as relay
from router.api.deps import ServicesDep
from router.queue.broker import Subscription
from router.services import a2a as a2a_service
from router.services import a2a_wire as wire
from router.services import jsonrpc
from router.services import runs as runs_service
from router.services.context import Services
from router.services.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, Envelope, RpcError

router = APIRouter(tags=["A2A"])

SSE_EVENT = "message"


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _card_response(services: Services, request: Request, assistant_id: str | None) -> Response:
    if not assistant_id:
        error = RpcError(INVALID_PARAMS, "Missing required query parameter: assistant_id")
        return rpc_http.json_response({"error": error.to_json()}, 400)
    try:
        assistant = await a2a_service.get_assistant(services, assistant_id)
    except RpcError as exc:
        return rpc_http.json_response({"error": exc.to_json()}, 404)
    body = await a2a_service.card(
        services, assistant, base_url=_base_url(request), version=rpc_http.server_version()
    )
    return rpc_http.json_response(body)


# The statuses the agent-card routes answer besides 200 (listed in the served document).
CARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "No `assistant_id` given (a JSON-RPC error object under `error`)."},
    404: {"description": "No such assistant (a JSON-RPC error object under `error`)."},
}


@router.get("/.well-known/agent-card.json", responses=CARD_RESPONSES)
async def agent_card(
    request: Request, services: ServicesDep, assistant_id: Annotated[str | None, Query()] = None
) -> Response:
    return await _card_response(services, request, assistant_id)


@router.get("/a2a/{assistant_id}/.well-known/agent-card.json", responses=CARD_RESPONSES)
@router.get("/a2a/{assistant_id}/.well-known/agent.json", responses=CARD_RESPONSES)
@router.get("/a2a/{assistant_id}", responses=CARD_RESPONSES)
async def assistant_agent_card(assistant_id: str, request: Request, services: ServicesDep) -> Response:
    return await _card_response(services, request, assistant_id)


@router.delete(
    "/a2a/{assistant_id}",
    status_code=405,
    response_class=Response,  # no body
    responses={405: {"description": "A2A has no DELETE."}},
)
async def delete_a2a(assistant_id: str) -> Response:
    return Response(status_code=405)


@router.post("/a2a/{assistant_id}")
@router.post("/a2a/{assistant_id}/", include_in_schema=False)
async def post_a2a(assistant_id: str, request: Request, services: ServicesDep) -> Response:
    try:
        envelope = jsonrpc.parse_envelope(await request.body())
    except RpcError as exc:
        return rpc_http.error_response(exc.rpc_id, exc)
    if envelope.kind != "request":
        return rpc_http.accepted()
    streaming = envelope.method in ("SendStreamingMessage", "message/stream")
    wanted = "text/event-stream" if streaming else "application/json"
    if not jsonrpc.accepts(request.headers.get("accept", ""), wanted):
        error = RpcError(INVALID_REQUEST, f"Accept header must include {wanted}")
        return rpc_http.error_response(envelope.id, error)
    try:
        return await _dispatch(services, request, assistant_id, envelope)
    except Exception as exc:
        return rpc_http.error_response(envelope.id, rpc_http.to_rpc_error(exc, method=envelope.method))


async def _dispatch(services: Services, request: Request, assistant_id: str, envelope: Envelope) -> Response:
    method = a2a_service.resolve_method(envelope.method)
    assistant = await a2a_service.get_assistant(services, assistant_id)
    params, family = envelope.params, method.family
    scope_header = request.headers.get(wire.HISTORY_SCOPE_HEADER)
    if method.operation == "stream":
        return await _stream(services, assistant["assistant_id"], envelope, family, scope_header)
    result: Any
    if method.operation == "send":
        result = await _send(services, assistant["assistant_id"], params, family, scope_header)
    elif method.operation == "get":
        row = await _own_task_row(services, assistant["assistant_id"], params)
        result = await a2a_service.get_task(services, row, params, header_scope=scope_header)
    elif method.operation == "cancel":
        result = await _cancel(services, assistant["assistant_id"], params)
    elif method.operation == "list":
        result = await a2a_service.list_tasks(services, assistant, params, header_scope=scope_header)
    else:
        result = await a2a_service.card(
            services, assistant, base_url=_base_url(request), version=rpc_http.server_version()
        )
    return rpc_http.json_response(jsonrpc.result_message(envelope.id, a2a_service.spell(family, result)))


async def _own_task_row(services: Services, assistant_id: str, params: dict[str, Any]) -> Any:
    """The task's run, which must belong to the assistant of the endpoint."""
    row = await a2a_service.task_row(services, params)
    if str(row["assistant_id"]) != assistant_id:
        raise RpcError(a2a_service.TASK_NOT_FOUND, f"Task '{params.get('id')}' not found")
    return row


async def _send(
    services: Services,
    assistant_id: str,
    params: dict[str, Any],
    family: a2a_service.Family,
    scope_header: str | None,
) -> dict[str, Any]:
    send = a2a_service.parse_send(params, header_scope=scope_header)
    prepared = await a2a_service.prepare_send(services, assistant_id, send, stream=False)
    if send.return_immediately:
        await runs_service.create(
            services, prepared.body, thread_id=prepared.thread_id, run_id=prepared.run_id
        )
        task = a2a_service.submitted_task(prepared)
    else:
        output = await rpc_http.wait_for_run(
            services, prepared.body, thread_id=prepared.thread_id, run_id=prepared.run_id
        )
        task = await a2a_service.finished_task(
            services,
            prepared,
            output,
            history_scope=send.history_scope,
            history_length=send.history_length,
        )
    return {"task": task} if family == "1.0" else task


async def _cancel(services: Services, assistant_id: str, params: dict[str, Any]) -> dict[str, Any]:
    row = await _own_task_row(services, assistant_id, params)
    a2a_service.check_cancelable(row)
    thread_id, run_id = str(row["thread_id"]), str(row["run_id"])
    subscription = services.broker.subscribe(services.keys.run_stream_channel(run_id))
    sub = await subscription.__aenter__()
    try:
        await a2a_service.cancel_task(services, row)
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise
    await rpc_http.drain_until_done(services, subscription, sub, thread_id=thread_id, run_id=run_id)
    return await a2a_service.task_after_cancel(services, row)


def _sse(rpc_id: Any, family: a2a_service.Family, kind: str, result: dict[str, Any]) -> bytes:
    """One SSE frame: a JSON-RPC response carrying a stream event (wrapped by kind for v1.0)."""
    body = a2a_service.spell(family, result)
    if family == "1.0":
        body = {kind: body}
    return frames.encode_sse(SSE_EVENT, orjson.dumps(jsonrpc.result_message(rpc_id, body)))


async def _stream(
    services: Services,
    assistant_id: str,
    envelope: Envelope,
    family: a2a_service.Family,
    scope_header: str | None,
) -> Response:
    send = a2a_service.parse_send(envelope.params, header_scope=scope_header)
    prepared = await a2a_service.prepare_send(services, assistant_id, send, stream=True)
    _, subscription, sub = await runs_api.create_subscribed(
        services, prepared.body, prepared.thread_id, run_id=prepared.run_id
    )
    body = _stream_events(services, prepared, sub, rpc_id=envelope.id, family=family)
    return relay.streaming(body, subscription, media_type=relay.SSE_MEDIA_TYPE, headers={})


async def _stream_events(
    services: Services,
    prepared: a2a_service.PreparedRun,
    sub: Subscription,
    *,
    rpc_id: Any,
    family: a2a_service.Family,
) -> AsyncGenerator[bytes]:
    yield _sse(rpc_id, family, "task", a2a_service.submitted_task(prepared))
    heartbeat = services.settings.heartbeat_seconds
    is_finished = rpc_http.finished_check(services, prepared.thread_id, prepared.run_id)
    deadline = asyncio.get_running_loop().time() + heartbeat
    while True:
        frame = await relay.next_frame(sub, deadline)
        if frame is None:
            yield frames.HEARTBEAT
            deadline += heartbeat
            if await is_finished():
                break
            continue
        if frame.is_done():
            break
        if frame.event == "messages":
            update = a2a_service.working_update(prepared, orjson.loads(frame.data))
            if update is not None:
                yield _sse(rpc_id, family, "statusUpdate", update)
    for event in await a2a_service.final_events(services, prepared):
        kind = "artifactUpdate" if event["kind"] == "artifact-update" else "statusUpdate"
        yield _sse(rpc_id, family, kind, event)
