"""MCP (Model Context Protocol) tools: one tool per assistant, called as a stateless wait run.

A tool's name is the assistant's name made safe for MCP, its description the assistant's (or
"Tool based on the X assistant"), its `inputSchema` the graph's input schema with a `messages`
field simplified to one string (the user message), as the official server does. Assistants whose
input schema cannot be generated are left out. `tools/list` pages by `cursor` (an offset), 100 tools
a page. A call's result is the run's output as JSON text; a failed run is an `isError` result.
"""

from __future__ import annotations

import re
from typing import Any, cast

import orjson

from router.models import Assistant
from router.requests import RunCreate
from router.services import assistants as assistants_service
from router.services.context import Services
from router.services.jsonrpc import INVALID_PARAMS, RpcError

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_PROTOCOL_VERSION = PROTOCOL_VERSIONS[-1]
SERVER_NAME = "LangGraph"
PAGE_SIZE = 100
TOOL_NAME_MAX_CHARS = 128
MESSAGES_FIELD = {
    "type": "string",
    "title": "Messages",
    "description": "The user message to send to the agent.",
}
ANNOTATIONS = {
    "readOnlyHint": False,
    "destructiveHint": False,
    "idempotentHint": False,
    "openWorldHint": True,
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def initialize_result(params: dict[str, Any], *, version: str) -> dict[str, Any]:
    """The client's protocol version when this server speaks it, else the latest one."""
    asked = params.get("protocolVersion")
    return {
        "protocolVersion": asked if asked in PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": SERVER_NAME, "version": version},
    }


def tool_name(assistant_name: str) -> str:
    """An assistant name as an MCP tool name: letters, digits, `_`, `-`, `.`, at most 128 chars."""
    return (_UNSAFE.sub("_", assistant_name) or "_")[:TOOL_NAME_MAX_CHARS]


def simplify_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema a tool declares: `messages` becomes one string, and definitions nothing
    refers to any more are dropped."""
    out = dict(schema)
    properties = dict(out.get("properties") or {})
    if "messages" in properties:
        properties["messages"] = dict(MESSAGES_FIELD)
    out["properties"] = properties
    for key in ("$defs", "definitions"):
        if key in out:
            rest = {k: v for k, v in out.items() if k != key}
            if f"#/{key}/".encode() not in orjson.dumps(rest):
                del out[key]
    out.setdefault("type", "object")
    return out


async def _tool(services: Services, assistant: Assistant) -> dict[str, Any] | None:
    schemas = await assistants_service.get_schemas(services, assistant["assistant_id"])
    schema = schemas.get("input_schema")
    if not isinstance(schema, dict):
        return None
    name = assistant["name"]
    return {
        "name": tool_name(name),
        "title": name,
        "description": assistant.get("description") or f"Tool based on the {name} assistant",
        "inputSchema": simplify_schema(schema),
        "annotations": dict(ANNOTATIONS),
    }


def _offset(cursor: Any) -> int:
    if cursor is None:
        return 0
    if not isinstance(cursor, str) or not cursor.isdigit():
        raise RpcError(INVALID_PARAMS, f"Invalid cursor: {cursor!r}")
    return int(cursor)


async def list_tools(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    offset = _offset(params.get("cursor"))
    page, next_offset = await assistants_service.search(
        services, limit=PAGE_SIZE, offset=offset, sort_by="created_at", sort_order="asc"
    )
    tools = []
    for item in page:
        tool = await _tool(services, cast(Assistant, item))
        if tool is not None:
            tools.append(tool)
    result: dict[str, Any] = {"tools": tools}
    if next_offset is not None:
        result["nextCursor"] = str(next_offset)
    return result


async def find_tool(services: Services, name: Any) -> Assistant:
    """The one assistant whose tool is called `name`."""
    if not isinstance(name, str) or not name:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page, offset = await assistants_service.search(
            services, limit=PAGE_SIZE, offset=offset, sort_by="created_at", sort_order="asc"
        )
        found.extend(item for item in page if tool_name(str(item["name"])) == name)
    if not found:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
    if len(found) > 1:
        raise RpcError(INVALID_PARAMS, "Multiple tools found with the same name.")
    return cast(Assistant, found[0])


def call_body(assistant: Assistant, params: dict[str, Any]) -> RunCreate:
    """The stateless run a `tools/call` makes: the arguments are the graph's input."""
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "arguments must be an object")
    return RunCreate(assistant_id=assistant["assistant_id"], input=arguments)


def call_result(output: Any) -> dict[str, Any]:
    """The run's output as JSON text; a failed run is an error result naming its error."""
    if isinstance(output, dict) and "__error__" in output:
        return {
            "content": [{"type": "text", "text": orjson.dumps(output["__error__"]).decode()}],
            "isError": True,
        }
    return {"content": [{"type": "text", "text": orjson.dumps(output).decode()}], "isError": False}
