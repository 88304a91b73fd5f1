"""A2A at `/a2a/{assistant_id}` (contract §5.2; captures http/a2a_*.txt), driven with the official
`a2a-sdk` client (v1.0 JSON-RPC transport, and its v0.3 compat transport) and with raw HTTP for the
JSON-RPC error codes and the exact spelling of each method family."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.base_client import BaseClient
from a2a.compat.v0_3.jsonrpc_transport import CompatJsonRpcTransport
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, UnsupportedOperationError
from google.protobuf import struct_pb2
from langgraph_sdk.client import LangGraphClient

from contracts import ids
from tests.e2e.helpers import wait_for_status
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

ECHO = ids.system_assistant_id("echo")
AGENT = ids.system_assistant_id("agent")
HITL = ids.system_assistant_id("hitl")
FAILING = ids.system_assistant_id("failing")
JSON = {"accept": "application/json"}
SSE = {"accept": "text/event-stream"}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=httpx.Timeout(60.0, connect=5.0)) as client:
        yield client


async def card_of(http: httpx.AsyncClient, stack: Stack, assistant_id: str) -> AgentCard:
    return await A2ACardResolver(http, f"{stack.url}/a2a/{assistant_id}").get_agent_card()


async def a2a_client(
    http: httpx.AsyncClient, stack: Stack, assistant_id: str, *, streaming: bool = False
) -> BaseClient:
    card = await card_of(http, stack, assistant_id)
    client = ClientFactory(ClientConfig(httpx_client=http, streaming=streaming)).create(card)
    assert isinstance(client, BaseClient)
    return client


def text_message(text: str, *, context_id: str = "", task_id: str = "") -> Message:
    return Message(
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        message_id=f"m-{uuid.uuid4().hex[:8]}",
        context_id=context_id,
        task_id=task_id,
    )


def data_message(data: dict[str, Any], **kwargs: Any) -> Message:
    value = struct_pb2.Value()
    value.struct_value.update(data)
    return Message(
        role=Role.ROLE_USER, parts=[Part(data=value)], message_id=f"m-{uuid.uuid4().hex[:8]}", **kwargs
    )


async def send(client: BaseClient, message: Message, **config: Any) -> list[StreamResponse]:
    request = SendMessageRequest(message=message, configuration=SendMessageConfiguration(**config))
    return [event async for event in client.send_message(request)]


async def rpc(
    http: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str] = JSON
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await http.post(path, content=content, headers={"content-type": "application/json", **headers})


def rpc_body(method: str, params: Any, rpc_id: Any = "1") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}


def send_params(text: str, **message: Any) -> dict[str, Any]:
    message_id = f"m-{uuid.uuid4().hex[:8]}"  # messages with one id replace each other in the thread
    return {
        "message": {
            "role": "user",
            "parts": [{"kind": "text", "text": text}],
            "messageId": message_id,
            **message,
        }
    }


async def test_agent_card_is_served_at_every_official_url(http: httpx.AsyncClient, stack: Stack) -> None:
    urls = [
        f"/.well-known/agent-card.json?assistant_id={ECHO}",
        f"/a2a/{ECHO}",
        f"/a2a/{ECHO}/.well-known/agent-card.json",
        f"/a2a/{ECHO}/.well-known/agent.json",
    ]
    bodies = []
    for url in urls:
        response = await http.get(url)
        assert response.status_code == 200, url
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies)
    card = bodies[0]
    assert card["name"] == "echo"
    assert card["description"] == "echo assistant"
    assert card["url"] == f"{stack.url}/a2a/{ECHO}"
    assert card["supportedInterfaces"] == [
        {"url": f"{stack.url}/a2a/{ECHO}", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]
    assert card["capabilities"]["streaming"] is True
    assert card["capabilities"]["extensions"][0]["params"]["header"] == "LangGraph-A2A-History-Scope"
    assert card["skills"][0]["metadata"]["inputSchema"] == {
        "required": ["messages"],
        "properties": ["messages"],
        "supportsA2A": True,
    }
    # the official client resolves the root card through the query form too
    resolved = await A2ACardResolver(http, stack.url).get_agent_card(
        relative_card_path=f"/.well-known/agent-card.json?assistant_id={ECHO}"
    )
    assert resolved.name == "echo"
    assert resolved.supported_interfaces[0].protocol_version == "1.0"

    assert (await http.get("/.well-known/agent-card.json")).status_code == 400
    missing = await http.get(f"/a2a/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == -32602


async def test_send_message_runs_the_graph_on_the_context_thread(
    http: httpx.AsyncClient, stack: Stack, client: LangGraphClient
) -> None:
    a2a = await a2a_client(http, stack, ECHO)
    (event,) = await send(a2a, text_message("hello a2a"))
    task = event.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    context_id, run_id = task.id.split(":")
    assert task.context_id == context_id
    assert [p.text for p in task.artifacts[0].parts] == ["echo: hello a2a"]
    assert [(m.role, m.parts[0].text) for m in task.history] == [
        (Role.ROLE_USER, "hello a2a"),
        (Role.ROLE_AGENT, "echo: hello a2a"),
    ]
    # contextId is the thread; the task is the run
    thread = await client.threads.get(context_id)
    assert (thread["metadata"] or {})["a2a"] == {"task_start_id": run_id}
    assert [m["content"] for m in (thread["values"] or {})["messages"]] == ["hello a2a", "echo: hello a2a"]
    assert (await client.runs.get(context_id, run_id))["status"] == "success"

    # the next turn opens a new task in the same context
    (second,) = await send(a2a, text_message("again", context_id=context_id))
    assert second.task.context_id == context_id
    assert second.task.id != task.id
    assert [m.parts[0].text for m in second.task.history][-2:] == ["again", "echo: again"]
    assert len(second.task.history) == 4  # default history scope: the whole context

    got = await a2a.get_task(GetTaskRequest(id=task.id))
    assert got.status.state == TaskState.TASK_STATE_COMPLETED
    assert [m.parts[0].text for m in got.history] == ["hello a2a", "echo: hello a2a"]
    scoped = await a2a.get_task(GetTaskRequest(id=second.task.id, history_length=1))
    assert [m.parts[0].text for m in scoped.history] == ["echo: again"]

    listed = await a2a.list_tasks(ListTasksRequest(context_id=context_id))
    assert [t.id for t in listed.tasks] == [second.task.id, task.id]
    assert listed.total_size == 2
    await a2a.close()


async def test_history_scope_task_keeps_only_the_tasks_messages(http: httpx.AsyncClient) -> None:
    first = await rpc(http, f"/a2a/{ECHO}", rpc_body("SendMessage", send_params("one")))
    context_id = first.json()["result"]["task"]["contextId"]
    second = await rpc(
        http,
        f"/a2a/{ECHO}",
        rpc_body(
            "SendMessage",
            {**send_params("two", contextId=context_id), "configuration": {"historyScope": "task"}},
        ),
    )
    task = second.json()["result"]["task"]
    assert [m["parts"][0]["text"] for m in task["history"]] == ["two", "echo: two"]
    by_header = await rpc(
        http,
        f"/a2a/{ECHO}",
        rpc_body("GetTask", {"id": task["id"]}),
        headers={**JSON, "LangGraph-A2A-History-Scope": "task"},
    )
    assert [m["parts"][0]["text"] for m in by_header.json()["result"]["history"]] == ["two", "echo: two"]
    bad = await rpc(http, f"/a2a/{ECHO}", rpc_body("GetTask", {"id": task["id"], "historyScope": "all"}))
    assert bad.json()["error"] == {"code": -32602, "message": "historyScope must be 'context' or 'task'"}


async def test_streaming_send_emits_task_working_artifact_and_final_status(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    a2a = await a2a_client(http, stack, ECHO, streaming=True)
    events = await send(a2a, text_message("stream me"))
    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds == ["task", "status_update", "artifact_update", "status_update"]
    task, working, artifact, final = events
    assert task.task.status.state == TaskState.TASK_STATE_SUBMITTED
    assert task.task.history[0].parts[0].text == "stream me"
    assert working.status_update.status.state == TaskState.TASK_STATE_WORKING
    assert working.status_update.status.message.parts[0].text == "echo: stream me"
    assert artifact.artifact_update.artifact.parts[0].text == "echo: stream me"
    assert artifact.artifact_update.last_chunk is True
    assert final.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert {e.status_update.task_id for e in (working, final)} == {task.task.id}
    await a2a.close()


async def test_v03_method_family_with_the_compat_transport(http: httpx.AsyncClient, stack: Stack) -> None:
    card = await card_of(http, stack, ECHO)
    transport = CompatJsonRpcTransport(http, card, f"{stack.url}/a2a/{ECHO}", is_shared_httpx=True)
    request = SendMessageRequest(message=text_message("old names"))
    sent = await transport.send_message(request)
    assert sent.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert sent.task.artifacts[0].parts[0].text == "echo: old names"
    streamed = [
        e async for e in transport.send_message_streaming(SendMessageRequest(message=text_message("s")))
    ]
    assert [e.WhichOneof("payload") for e in streamed] == [
        "task",
        "status_update",
        "artifact_update",
        "status_update",
    ]
    assert streamed[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    got = await transport.get_task(GetTaskRequest(id=sent.task.id))
    assert got.status.state == TaskState.TASK_STATE_COMPLETED

    # the family decides the spelling (capture a2a_message_send.txt vs a2a_SendMessage_v1.txt)
    old = (await rpc(http, f"/a2a/{ECHO}", rpc_body("message/send", send_params("x")))).json()["result"]
    assert old["kind"] == "task"
    assert old["status"]["state"] == "completed"
    assert [m["role"] for m in old["history"]] == ["user", "agent"]
    new = (await rpc(http, f"/a2a/{ECHO}", rpc_body("SendMessage", send_params("x")))).json()["result"]
    assert new["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [m["role"] for m in new["task"]["history"]] == ["ROLE_USER", "ROLE_AGENT"]
    stream = await rpc(http, f"/a2a/{ECHO}", rpc_body("message/stream", send_params("y")), headers=SSE)
    assert stream.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in stream.content.split(b"\r\n\r\n") if f.startswith(b"event: message")]
    results = [orjson.loads(f.split(b"data: ", 1)[1])["result"] for f in frames]
    assert [r["kind"] for r in results] == ["task", "status-update", "artifact-update", "status-update"]
    assert results[-1]["status"]["state"] == "completed"
    assert results[-1]["final"] is True


async def test_cancel_task_of_a_running_run(
    http: httpx.AsyncClient, stack: Stack, client: LangGraphClient
) -> None:
    a2a = await a2a_client(http, stack, AGENT)
    (event,) = await send(a2a, data_message({"items": ["c"], "delay": 3}), return_immediately=True)
    assert event.task.status.state == TaskState.TASK_STATE_SUBMITTED
    context_id, run_id = event.task.id.split(":")
    await wait_for_status(client, context_id, run_id, {"running"})
    cancelled = await a2a.cancel_task(CancelTaskRequest(id=event.task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    assert (await client.runs.get(context_id, run_id))["status"] == "interrupted"
    with pytest.raises(TaskNotCancelableError):
        await a2a.cancel_task(CancelTaskRequest(id=event.task.id))
    listed = await a2a.list_tasks(
        ListTasksRequest(context_id=context_id, status=TaskState.TASK_STATE_CANCELED)
    )
    assert [t.id for t in listed.tasks] == [event.task.id]
    await a2a.close()


async def test_failed_and_input_required_tasks(http: httpx.AsyncClient, stack: Stack) -> None:
    failing = await a2a_client(http, stack, FAILING)
    (event,) = await send(failing, data_message({"items": ["f"]}))
    assert event.task.status.state == TaskState.TASK_STATE_FAILED
    assert "boom: f" in event.task.status.message.parts[0].text
    await failing.close()

    hitl = await a2a_client(http, stack, HITL)
    (paused,) = await send(hitl, data_message({"items": ["h"]}))
    assert paused.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    question = paused.task.status.message.parts[0].data.struct_value
    assert question["question"] == "approve?"
    # answering the task that waits for input resumes the graph
    (done,) = await send(
        hitl, data_message({"ok": True}, task_id=paused.task.id, context_id=paused.task.context_id)
    )
    assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert done.task.context_id == paused.task.context_id
    output = orjson.loads(done.task.artifacts[0].parts[0].text)
    assert output["items"][-1] == "done"
    # a finished task takes no more messages
    with pytest.raises(UnsupportedOperationError, match="terminal state"):
        await send(hitl, data_message({"ok": True}, task_id=done.task.id))
    await hitl.close()


async def test_json_rpc_error_codes(http: httpx.AsyncClient) -> None:
    path = f"/a2a/{ECHO}"
    parse = await rpc(http, path, b"{not json")
    assert parse.status_code == 400
    assert parse.json()["error"]["code"] == -32700
    invalid = await rpc(http, path, {"id": "1", "method": "GetTask"})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == -32600
    unknown = await rpc(http, path, rpc_body("nope", {}, rpc_id="5"))
    assert unknown.status_code == 200
    assert unknown.json() == {
        "jsonrpc": "2.0",
        "id": "5",
        "error": {"code": -32601, "message": "Method not found: nope"},
    }
    for method in ("SubscribeToTask", "CreateTaskPushNotificationConfig", "tasks/resubscribe"):
        assert (await rpc(http, path, rpc_body(method, {}))).json()["error"]["code"] == -32601
    assert (await rpc(http, path, rpc_body("GetTask", [1]))).json()["error"]["code"] == -32602
    not_uuid = await rpc(http, "/a2a/echo", rpc_body("SendMessage", send_params("x")))
    assert not_uuid.json()["error"]["code"] == -32602
    no_message = await rpc(http, path, rpc_body("SendMessage", {}))
    assert no_message.json()["error"] == {"code": -32602, "message": "Missing 'message' in params"}
    no_messages_key = await rpc(http, f"/a2a/{AGENT}", rpc_body("SendMessage", send_params("x")))
    assert no_messages_key.json()["error"]["code"] == -32602
    assert "messages" in no_messages_key.json()["error"]["message"]
    file_part = {
        "message": {"role": "user", "messageId": "m", "parts": [{"kind": "file", "file": {"uri": "x"}}]}
    }
    assert (await rpc(http, path, rpc_body("SendMessage", file_part))).json()["error"]["code"] == -32005
    too_long = {**send_params("x"), "configuration": {"historyLength": 11}}
    assert (await rpc(http, path, rpc_body("SendMessage", too_long))).json()["error"] == {
        "code": -32602,
        "message": "historyLength cannot exceed 10",
    }
    missing_task = await rpc(http, path, rpc_body("GetTask", {"id": f"{uuid.uuid4()}:{uuid.uuid4()}"}))
    assert missing_task.json()["error"]["code"] == -32001
    foreign = await rpc(http, path, rpc_body("tasks/get", {"id": "someone-elses-task"}))
    assert foreign.json()["error"]["code"] == -32001
    wrong_accept = await rpc(http, path, rpc_body("SendStreamingMessage", send_params("x")), headers=JSON)
    assert wrong_accept.status_code == 400
    assert wrong_accept.json()["error"]["code"] == -32600
    notification = await rpc(http, path, {"jsonrpc": "2.0", "method": "SendMessage", "params": {}})
    assert notification.status_code == 202
    assert notification.content == b""
    card = await rpc(http, path, rpc_body("GetExtendedAgentCard", {}))
    assert card.json()["result"]["name"] == "echo"
