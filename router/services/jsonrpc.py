"""JSON-RPC 2.0 envelopes as the A2A and MCP endpoints receive them, parsed by hand so that every
malformed message gets a JSON-RPC error (never a framework validation error).

A body is one of: a request (`method` and `id`), a notification (`method`, no `id`) or a response
(`id`, no `method`). Batches (JSON arrays) are refused, as the official server does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

RequestId = str | int | None


class RpcError(Exception):
    """A JSON-RPC error object to answer with: `code`, `message` and optional `data`."""

    def __init__(self, code: int, message: str, data: Any = None, *, rpc_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.rpc_id = rpc_id
        """The id of the request it answers, when known before the method runs."""

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True)
class Envelope:
    kind: Literal["request", "notification", "response"]
    id: RequestId
    method: str
    params: dict[str, Any]


def parse_envelope(body: bytes) -> Envelope:
    """The message in `body`; RpcError(-32700) for invalid JSON, (-32600) for anything that is not a
    JSON-RPC 2.0 message, (-32602) for params that are not an object."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RpcError(PARSE_ERROR, "Parse error: invalid JSON payload") from exc
    if not isinstance(message, dict):
        raise RpcError(INVALID_REQUEST, "Invalid request: a JSON-RPC message must be a JSON object")
    if message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "Invalid request: missing or invalid jsonrpc version")
    has_id = "id" in message and message["id"] is not None
    rpc_id = message.get("id")
    if has_id and (isinstance(rpc_id, bool) or not isinstance(rpc_id, str | int)):
        raise RpcError(INVALID_REQUEST, "Invalid request: id must be a string or an integer")
    method = message.get("method")
    if method is not None and not isinstance(method, str):
        raise RpcError(INVALID_REQUEST, "Invalid request: method must be a string")
    if not method and not has_id:
        raise RpcError(
            INVALID_REQUEST, "Invalid request: a message must be a JSON-RPC request, response or notification"
        )
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: params must be an object", rpc_id=rpc_id)
    if method and has_id:
        return Envelope("request", rpc_id, method, params)
    if method:
        return Envelope("notification", None, method, params)
    return Envelope("response", rpc_id, "", {})


def result_message(rpc_id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "result": result}


def error_message(rpc_id: RequestId, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": error.to_json()}


def accepts(accept_header: str, media_type: str) -> bool:
    """Whether an `Accept` header allows `media_type` (wildcards count)."""
    target = media_type.lower()
    for media_range in accept_header.split(","):
        candidate = media_range.split(";", 1)[0].strip().lower()
        if candidate in ("*/*", target):
            return True
        if candidate.endswith("/*") and target.startswith(candidate[:-1]):
            return True
    return False
