"""MCP at `/mcp` (contract §5.3; captures http/mcp_*.txt), driven with the official `mcp` client over
Streamable HTTP, and with raw HTTP for the transport's status codes and the JSON-RPC errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from langgraph_sdk.client import LangGraphClient
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, PaginatedRequestParams, TextContent

from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@asynccontextmanager
async def mcp_session(stack: Stack) -> AsyncIterator[ClientSession]:
    async with (
        streamable_http_client(f"{stack.url}/mcp") as (read, write),
        ClientSession(read, write) as session,
    ):
        yield session


def text_of(result: CallToolResult) -> str:
    (content,) = result.content
    assert isinstance(content, TextContent)
    return content.text


async def post(stack: Stack, body: Any, headers: dict[str, str] = MCP_HEADERS) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60.0) as http:
        return await http.post("/mcp", content=content, headers=headers)


async def test_initialize_list_and_call_with_the_official_client(stack: Stack) -> None:
    async with mcp_session(stack) as session:
        init = await session.initialize()
        assert init.server_info.name == "LangGraph"
        assert init.protocol_version == "2025-11-25"
        assert init.capabilities.tools is not None
        assert init.capabilities.tools.list_changed is False
        await session.send_ping()

        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        echo = tools["echo"]
        assert echo.description == "Tool based on the echo assistant"
        assert echo.input_schema == {
            "properties": {
                "messages": {
                    "type": "string",
                    "title": "Messages",
                    "description": "The user message to send to the agent.",
                }
            },
            "required": ["messages"],
            "title": "MessagesState",
            "type": "object",
        }
        assert tools["agent"].input_schema["properties"]["items"]["type"] == "array"

        result = await session.call_tool("echo", {"messages": "hi"})
        assert result.is_error is False
        output = orjson.loads(text_of(result))  # JSON, not a Python repr
        assert [m["content"] for m in output["messages"]] == ["hi", "echo: hi"]

        result = await session.call_tool("agent", {"items": ["x"]})
        assert orjson.loads(text_of(result)) == {"items": ["x", "a", "b"]}

        failed = await session.call_tool("failing", {"items": ["f"]})
        assert failed.is_error is True
        assert orjson.loads(text_of(failed)) == {"error": "ValueError", "message": "boom: f"}

        with pytest.raises(MCPError, match="Unknown tool: nope"):
            await session.call_tool("nope", {})


async def test_tools_list_pages_with_a_cursor(stack: Stack, client: LangGraphClient) -> None:
    tag = f"mcp-page-{time.monotonic_ns()}"
    have = await client.assistants.count()
    created = [
        str((await client.assistants.create("agent", name=f"{tag}-{i}"))["assistant_id"])
        for i in range(max(0, 101 - have) + 2)
    ]
    names: list[str] = []
    pages = 0
    async with mcp_session(stack) as session:
        await session.initialize()
        cursor: str | None = None
        while True:
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            pages += 1
            assert len(page.tools) <= 100
            names.extend(tool.name for tool in page.tools)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert pages >= 2
    assert len(names) == await client.assistants.count()
    assert sorted(n for n in names if n.startswith(tag)) == sorted(f"{tag}-{i}" for i in range(len(created)))


async def test_transport_status_codes_and_json_rpc_errors(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60.0) as http:
        assert (await http.get("/mcp")).status_code == 405
        assert (await http.delete("/mcp")).status_code == 404
        redirect = await http.post("/mcp/", content=b"{}", headers=MCP_HEADERS)
        assert redirect.status_code == 307
        assert redirect.headers["location"].endswith("/mcp")

    initialized = await post(stack, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert initialized.status_code == 202
    assert initialized.content == b""
    assert "mcp-session-id" not in initialized.headers

    old = await post(
        stack,
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
    )
    assert old.json()["result"]["protocolVersion"] == "2025-06-18"
    assert "mcp-session-id" not in old.headers
    future = await post(
        stack,
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2099-01-01"}},
    )
    assert future.json()["result"]["protocolVersion"] == "2025-11-25"
    ping = await post(stack, {"jsonrpc": "2.0", "id": "p", "method": "ping"})
    assert ping.json() == {"jsonrpc": "2.0", "id": "p", "result": {}}

    parse = await post(stack, b"{oops")
    assert parse.status_code == 400
    assert parse.json()["error"]["code"] == -32700
    invalid = await post(stack, {"id": 1, "method": "ping"})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == -32600
    no_accept = await post(
        stack, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"accept": "text/html"}
    )
    assert no_accept.status_code == 400
    unknown = await post(stack, {"jsonrpc": "2.0", "id": 7, "method": "resources/list"})
    assert unknown.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32601, "message": "Method not found: resources/list"},
    }
    bad_args = await post(
        stack,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": [1]}},
    )
    assert bad_args.json()["error"]["code"] == -32602
    bad_cursor = await post(
        stack, {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "x"}}
    )
    assert bad_cursor.json()["error"]["code"] == -32602
    bad_params = await post(stack, {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": "x"})
    assert bad_params.json()["error"]["code"] == -32602
