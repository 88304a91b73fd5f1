"""MCP endpoint at `/mcp`: Streamable HTTP, stateless (no `Mcp-Session-Id`), JSON answers only.

POST takes one JSON-RPC message: requests are answered with `application/json`, notifications and
responses with 202. GET is 405 (no server-initiated stream) and DELETE 404 (there is no session to
end), as on the official server; `/mcp/` redirects to `/mcp` (the router's slash redirect).
Methods: `initialize`, `ping`, `tools/list`, `tools/call`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from contracts import ids
from router.api import jsonrpc as rpc_http
from router.api.deps import ServicesDep
from router.services import jsonrpc
from router.services import mcp as mcp_service
from router.services.context import Services
from router.services.jsonrpc import INVALID_REQUEST, METHOD_NOT_FOUND, Envelope, RpcError

router = APIRouter(tags=["MCP"])


@router.get("/mcp")
async def get_mcp() -> Response:
    return Response(status_code=405)


@router.delete("/mcp")
async def delete_mcp() -> Response:
    return Response(status_code=404)


@router.post("/mcp")
async def post_mcp(request: Request, services: ServicesDep) -> Response:
    try:
        envelope = jsonrpc.parse_envelope(await request.body())
    except RpcError as exc:
        return rpc_http.error_response(exc.rpc_id, exc)
    accept = request.headers.get("accept", "")
    if not (jsonrpc.accepts(accept, "application/json") or jsonrpc.accepts(accept, "text/event-stream")):
        error = RpcError(INVALID_REQUEST, "Accept header must include application/json or text/event-stream")
        return rpc_http.error_response(envelope.id, error)
    if envelope.kind != "request":
        return rpc_http.accepted()
    try:
        result = await _call(services, envelope)
    except Exception as exc:
        return rpc_http.error_response(envelope.id, rpc_http.to_rpc_error(exc, method=envelope.method))
    return rpc_http.json_response(jsonrpc.result_message(envelope.id, result))


async def _call(services: Services, envelope: Envelope) -> Any:
    params = envelope.params
    if envelope.method == "initialize":
        return mcp_service.initialize_result(params, version=rpc_http.server_version())
    if envelope.method == "ping":
        return {}
    if envelope.method == "tools/list":
        return await mcp_service.list_tools(services, params)
    if envelope.method == "tools/call":
        assistant = await mcp_service.find_tool(services, params.get("name"))
        body = mcp_service.call_body(assistant, params)
        output = await rpc_http.wait_for_run(services, body, thread_id=None, run_id=str(ids.uuid7()))
        return mcp_service.call_result(output)
    raise RpcError(METHOD_NOT_FOUND, f"Method not found: {envelope.method}")
