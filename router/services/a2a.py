"""A2A (Agent2Agent) over JSON-RPC 2.0: method names, params, and the LangGraph side of each method.

Both method families are served: v1.0 (`SendMessage`, `SendStreamingMessage`, `GetTask`,
`CancelTask`, `ListTasks`, `GetExtendedAgentCard`) and the v0.3 aliases (`message/send`,
`message/stream`, `tasks/get`, `tasks/cancel`); the family only decides how the answer is spelled
(router.services.a2a_wire). `message.contextId` is the thread id; each message starts a new run,
the task `{contextId}:{run_id}`. Text parts become one message of the graph's `messages` input, data
parts are merged into the input. Waiting for and streaming a run is router.api.a2a's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from contracts import ids
from router import errors
from router.models import Assistant
from router.requests import Command, RunCreateStateful
from router.services import a2a_wire as wire
from router.services import assistants as assistants_service
from router.services import runs as runs_service
from router.services import threads as threads_service
from router.services.context import Services
from router.services.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError
from router.store import runs as runs_store
from router.store import tasks as tasks_store

TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOTIFICATION_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005

MAX_HISTORY_LENGTH = 10
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
STREAM_MODES: list[Any] = ["messages-tuple", "values"]

Family = Literal["1.0", "0.3"]
Operation = Literal["send", "stream", "get", "cancel", "list", "card"]

V1_METHODS: dict[str, Operation] = {
    "SendMessage": "send",
    "SendStreamingMessage": "stream",
    "GetTask": "get",
    "CancelTask": "cancel",
    "ListTasks": "list",
    "GetExtendedAgentCard": "card",
}
V03_METHODS: dict[str, Operation] = {
    "message/send": "send",
    "message/stream": "stream",
    "tasks/get": "get",
    "tasks/cancel": "cancel",
}
# ListTasks' A2A states → run statuses, and how interrupted runs are narrowed.
STATE_FILTERS: dict[str, tuple[list[str], tasks_store.InterruptedFilter]] = {
    "submitted": (["pending"], "any"),
    "working": (["running"], "any"),
    "completed": (["success"], "any"),
    "failed": (["error", "timeout"], "any"),
    "canceled": (["interrupted"], "cancelled"),
    "input-required": (["interrupted"], "paused"),
}


@dataclass(frozen=True)
class Method:
    operation: Operation
    family: Family


def resolve_method(name: str) -> Method:
    if name in V1_METHODS:
        return Method(V1_METHODS[name], "1.0")
    if name in V03_METHODS:
        return Method(V03_METHODS[name], "0.3")
    raise RpcError(METHOD_NOT_FOUND, f"Method not found: {name}")


def spell(family: Family, value: Any) -> Any:
    """An answer in the spelling of the method family."""
    return wire.to_v1(value) if family == "1.0" else value


async def get_assistant(services: Services, assistant_id: str) -> Assistant:
    if not ids.is_uuid(assistant_id):
        raise RpcError(INVALID_PARAMS, "Invalid assistant ID: must be a UUID")
    try:
        return await assistants_service.get(services, assistants_service.canonical_id(assistant_id))
    except errors.AssistantNotFoundError as exc:
        raise RpcError(INVALID_PARAMS, f"Assistant '{assistant_id}' not found") from exc


async def input_schema(services: Services, assistant: Assistant) -> dict[str, Any] | None:
    schemas = await assistants_service.get_schemas(services, assistant["assistant_id"])
    schema = schemas.get("input_schema")
    return schema if isinstance(schema, dict) else None


async def card(services: Services, assistant: Assistant, *, base_url: str, version: str) -> dict[str, Any]:
    return wire.agent_card(
        assistant, await input_schema(services, assistant), base_url=base_url, version=version
    )


# --------------------------------------------------------------------------- params


def _history_length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RpcError(INVALID_PARAMS, "historyLength must be a non-negative integer")
    if value > MAX_HISTORY_LENGTH:
        raise RpcError(INVALID_PARAMS, f"historyLength cannot exceed {MAX_HISTORY_LENGTH}")
    return value


def history_scope(value: Any, header: str | None) -> str:
    """`historyScope` from the request, else the header, else `context`."""
    scope = value if value is not None else header
    if scope is None:
        return "context"
    if scope not in ("context", "task"):
        raise RpcError(INVALID_PARAMS, "historyScope must be 'context' or 'task'")
    return str(scope)


@dataclass(frozen=True)
class SendParams:
    message: dict[str, Any]
    role: str
    texts: list[str]
    data: dict[str, Any]
    context_id: str | None
    task_id: str | None
    history_length: int | None
    history_scope: str
    return_immediately: bool


def _parse_part(part: Any, texts: list[str], data: dict[str, Any]) -> None:
    if not isinstance(part, dict):
        raise RpcError(INVALID_PARAMS, "Each message part must be an object")
    kind = part.get("kind") or next((k for k in ("text", "data", "raw", "url", "file") if k in part), None)
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise RpcError(INVALID_PARAMS, "TextPart must contain a 'text' string")
        texts.append(part["text"])
    elif kind == "data":
        if not isinstance(part.get("data"), dict):
            raise RpcError(
                CONTENT_TYPE_NOT_SUPPORTED, "DataPart must contain a JSON object in the 'data' field"
            )
        data.update(part["data"])
    elif kind in ("raw", "url", "file"):
        raise RpcError(CONTENT_TYPE_NOT_SUPPORTED, "File parts are not supported by this server")
    else:
        raise RpcError(
            CONTENT_TYPE_NOT_SUPPORTED,
            f"Unsupported part kind '{kind}'. A2A agents support 'text' and 'data' parts only.",
        )


def _optional_str(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f"message.{key} must be a string")
    return value


def parse_send(params: dict[str, Any], *, header_scope: str | None) -> SendParams:
    message = params.get("message")
    if not isinstance(message, dict):
        raise RpcError(INVALID_PARAMS, "Missing 'message' in params")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(INVALID_PARAMS, "Message must contain at least one part")
    role = {"user": "user", "ROLE_USER": "user", "agent": "agent", "ROLE_AGENT": "agent", None: "user"}.get(
        message.get("role")
    )
    if role is None:
        raise RpcError(INVALID_PARAMS, f"Invalid message role: {message.get('role')!r}")
    if not isinstance(message.get("messageId"), str) or not message["messageId"]:
        raise RpcError(INVALID_PARAMS, "message.messageId is required")
    texts: list[str] = []
    data: dict[str, Any] = {}
    for part in parts:
        _parse_part(part, texts, data)
    context_id = _optional_str(message, "contextId")
    if context_id is not None and not ids.is_uuid(context_id):
        raise RpcError(INVALID_PARAMS, "message.contextId must be a UUID (it is the thread id)")
    config = params.get("configuration") or {}
    if not isinstance(config, dict):
        raise RpcError(INVALID_PARAMS, "configuration must be an object")
    if config.get("pushNotificationConfig") or config.get("taskPushNotificationConfig"):
        raise RpcError(PUSH_NOTIFICATION_NOT_SUPPORTED, "Push notifications are not supported")
    if params.get("tenant"):
        raise RpcError(INVALID_PARAMS, "tenant is not supported by this server")
    return SendParams(
        message=message,
        role=role,
        texts=texts,
        data=data,
        context_id=context_id.lower() if context_id else None,
        task_id=_optional_str(message, "taskId"),
        history_length=_history_length(config.get("historyLength")),
        history_scope=history_scope(config.get("historyScope"), header_scope),
        return_immediately=bool(config.get("returnImmediately")) or config.get("blocking") is False,
    )


# --------------------------------------------------------------------------- send


@dataclass(frozen=True)
class PreparedRun:
    body: RunCreateStateful
    thread_id: str
    run_id: str
    assistant: Assistant
    inbound: dict[str, Any]
    """The inbound message as the first history entry of a streamed task."""


def _graph_message(send: SendParams, run_id: str) -> dict[str, Any]:
    content: Any = (
        send.texts[0] if len(send.texts) == 1 else [{"type": "text", "text": t} for t in send.texts]
    )
    return {
        "type": "human" if send.role == "user" else "ai",
        "content": content,
        "id": send.message["messageId"],
        "additional_kwargs": {"a2a": {"task_start_id": run_id}},
    }


async def _check_messages_input(services: Services, assistant: Assistant) -> None:
    schema = await input_schema(services, assistant)
    if not schema:
        raise RpcError(
            INVALID_PARAMS,
            f"Assistant '{assistant['assistant_id']}' has no input schema defined. A2A conversational "
            "agents using text parts must have an input schema with a 'messages' field.",
        )
    properties = schema.get("properties") or {}
    if "messages" not in properties:
        raise RpcError(
            INVALID_PARAMS,
            f"Assistant '{assistant['assistant_id']}' (graph '{assistant['graph_id']}') does not support A2A "
            "conversational messages. Graph input schema must include a 'messages' field to accept text "
            f"parts. Available input fields: {list(properties)}",
        )


async def _resume_value(services: Services, send: SendParams) -> Any:
    """For a message naming an existing task: the resume value when it waits for input, None when
    the message simply continues its context; RpcError when the task cannot take it."""
    assert send.task_id is not None
    found = wire.parse_task_id(send.task_id)
    row = await runs_store.get(services.pool, found[1], found[0]) if found else None
    if found is None or row is None or (send.context_id and send.context_id != found[0]):
        raise RpcError(TASK_NOT_FOUND, f"Task '{send.task_id}' not found")
    state = wire.run_state(row["status"], row["cancel_action"], row["output"])
    if state in wire.TERMINAL_STATES:
        raise RpcError(
            UNSUPPORTED_OPERATION,
            f"Task '{send.task_id}' is in terminal state '{state}' and cannot accept new messages. "
            "Send the contextId alone to start a new task.",
        )
    if state != "input-required":
        return None
    if send.data and not send.texts:
        return send.data
    return "\n".join(send.texts)


async def prepare_send(
    services: Services, assistant_id: str, send: SendParams, *, stream: bool
) -> PreparedRun:
    """Check the assistant and the message, make sure the context exists, and build the run."""
    assistant = await get_assistant(services, assistant_id)
    if send.texts:
        await _check_messages_input(services, assistant)
    run_id = str(ids.uuid7())
    resume = await _resume_value(services, send) if send.task_id else None
    named_task = wire.parse_task_id(send.task_id) if send.task_id else None
    thread_id = send.context_id or (named_task[0] if named_task else "")
    if not thread_id:
        thread_id = str(ids.uuid7())
        await threads_service.create(
            services, thread_id=thread_id, metadata={"a2a": {"task_start_id": run_id}}
        )
    graph_input: dict[str, Any] = dict(send.data)
    if send.texts:
        graph_input["messages"] = [_graph_message(send, run_id)]
    body = RunCreateStateful(
        assistant_id=assistant["assistant_id"],
        input=None if resume is not None else graph_input,
        command=Command(resume=resume) if resume is not None else None,
        stream_mode=STREAM_MODES if stream else "values",
        if_not_exists="create",
    )
    task_id = wire.task_id_of(thread_id, run_id)
    inbound = {**send.message, "kind": "message", "taskId": task_id, "contextId": thread_id}
    return PreparedRun(body=body, thread_id=thread_id, run_id=run_id, assistant=assistant, inbound=inbound)


async def finished_task(
    services: Services,
    prepared: PreparedRun,
    output: Any,
    *,
    history_scope: str,
    history_length: int | None,
) -> dict[str, Any]:
    """The task of a run that just ended with `output` (v0.3 spelling)."""
    row = await runs_store.get(services.pool, prepared.run_id, prepared.thread_id)
    state = wire.run_state(row["status"], row["cancel_action"], output) if row is not None else "completed"
    return wire.task(
        context_id=prepared.thread_id,
        run_id=prepared.run_id,
        assistant_id=prepared.assistant["assistant_id"],
        state=state,
        output=output,
        history_messages=wire.history(
            output,
            context_id=prepared.thread_id,
            run_id=prepared.run_id,
            scope=history_scope,
            length=history_length,
        ),
    )


def submitted_task(prepared: PreparedRun) -> dict[str, Any]:
    """The task as created (a streamed task's first event, or `returnImmediately`)."""
    task_id = wire.task_id_of(prepared.thread_id, prepared.run_id)
    return {
        "kind": "task",
        "id": task_id,
        "contextId": prepared.thread_id,
        "history": [prepared.inbound],
        "status": {"state": "submitted", "timestamp": wire.now_iso()},
    }


# --------------------------------------------------------------------------- tasks


async def _task_of_row(
    services: Services,
    row: runs_store.Record,
    *,
    scope: str,
    length: int | None,
    include_artifacts: bool = True,
) -> dict[str, Any]:
    thread_id, run_id = str(row["thread_id"]), str(row["run_id"])
    output = row["output"]
    if output is None:
        output = await runs_service.final_output(services, thread_id, run_id)
    return wire.task(
        context_id=thread_id,
        run_id=run_id,
        assistant_id=str(row["assistant_id"]),
        state=wire.run_state(row["status"], row["cancel_action"], output),
        output=output,
        history_messages=wire.history(
            output, context_id=thread_id, run_id=run_id, scope=scope, length=length
        ),
        include_artifacts=include_artifacts,
    )


async def task_row(services: Services, params: dict[str, Any]) -> runs_store.Record:
    """The run behind `params.id` (a task id); RpcError(-32001) if there is none."""
    task_id = params.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise RpcError(INVALID_PARAMS, "Missing required parameter: id (task id)")
    found = wire.parse_task_id(task_id)
    context_id = params.get("contextId")
    row = await runs_store.get(services.pool, found[1], found[0]) if found else None
    if found is None or row is None or (context_id and str(context_id).lower() != found[0]):
        raise RpcError(TASK_NOT_FOUND, f"Task '{task_id}' not found")
    return row


async def get_task(
    services: Services, row: runs_store.Record, params: dict[str, Any], *, header_scope: str | None
) -> dict[str, Any]:
    """The task of `row` (found with `task_row`), its history shaped by `params`."""
    length = _history_length(params.get("historyLength"))
    scope = history_scope(params.get("historyScope"), header_scope)
    return await _task_of_row(services, row, scope=scope, length=length)


def check_cancelable(row: runs_store.Record) -> None:
    state = wire.run_state(row["status"], row["cancel_action"], row["output"])
    if state not in ("submitted", "working"):
        raise RpcError(TASK_NOT_CANCELABLE, f"Task cannot be canceled: it is {state}")


async def cancel_task(services: Services, row: runs_store.Record) -> None:
    await runs_service.cancel_one(services, str(row["thread_id"]), str(row["run_id"]), action="interrupt")


async def task_after_cancel(services: Services, row: runs_store.Record) -> dict[str, Any]:
    current = await runs_store.get(services.pool, str(row["run_id"]), str(row["thread_id"]))
    return await _task_of_row(services, current or row, scope="context", length=None)


def _page(params: dict[str, Any]) -> tuple[int, int]:
    size = params.get("pageSize") or DEFAULT_PAGE_SIZE
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise RpcError(INVALID_PARAMS, f"pageSize must be an integer between 1 and {MAX_PAGE_SIZE}")
    token = params.get("pageToken") or "0"
    if not isinstance(token, str) or not token.isdigit():
        raise RpcError(INVALID_PARAMS, "Invalid pageToken")
    return size, int(token)


def _state_filter(value: Any) -> tuple[list[str] | None, tasks_store.InterruptedFilter]:
    if value in (None, "", "TASK_STATE_UNSPECIFIED"):
        return None, "any"
    state = wire.STATE_FROM_V1.get(value, value)
    if state not in STATE_FILTERS:
        raise RpcError(INVALID_PARAMS, f"Invalid status filter: {value!r}")
    return STATE_FILTERS[state]


async def list_tasks(
    services: Services, assistant: Assistant, params: dict[str, Any], *, header_scope: str | None
) -> dict[str, Any]:
    """One page of the assistant's tasks, newest first (optionally of one context and state)."""
    if params.get("statusTimestampAfter"):
        raise RpcError(INVALID_PARAMS, "statusTimestampAfter is not supported by this server")
    length = _history_length(params.get("historyLength"))
    scope = history_scope(params.get("historyScope"), header_scope)
    size, offset = _page(params)
    context_id = params.get("contextId") or None
    if context_id is not None and not ids.is_uuid(context_id):
        raise RpcError(INVALID_PARAMS, "contextId must be a UUID")
    statuses, interrupted = _state_filter(params.get("status"))
    thread_id = context_id.lower() if context_id else None
    assistant_id = assistant["assistant_id"]
    rows = await tasks_store.list_page(
        services.pool,
        assistant_id,
        thread_id=thread_id,
        statuses=statuses,
        interrupted=interrupted,
        limit=size + 1,
        offset=offset,
    )
    total = await tasks_store.count(
        services.pool, assistant_id, thread_id=thread_id, statuses=statuses, interrupted=interrupted
    )
    tasks = [
        await _task_of_row(
            services, row, scope=scope, length=length, include_artifacts=bool(params.get("includeArtifacts"))
        )
        for row in rows[:size]
    ]
    return {
        "tasks": tasks,
        "nextPageToken": str(offset + size) if len(rows) > size else "",
        "pageSize": size,
        "totalSize": total,
    }


# --------------------------------------------------------------------------- streaming


def working_update(prepared: PreparedRun, chunk: Any) -> dict[str, Any] | None:
    """A `working` status update for one streamed message (`messages-tuple` data), None for the
    user's own messages."""
    message = chunk[0] if isinstance(chunk, list) and chunk else chunk
    if not isinstance(message, dict) or message.get("type") in ("human", "HumanMessageChunk"):
        return None
    task_id = wire.task_id_of(prepared.thread_id, prepared.run_id)
    agent = wire.agent_message(
        [wire.text_part(wire.content_text(message.get("content", "")))],
        task_id=task_id,
        context_id=prepared.thread_id,
        message_id=str(message.get("id") or "") or None,
    )
    return wire.status_update(task_id, prepared.thread_id, "working", message=agent)


async def final_events(services: Services, prepared: PreparedRun) -> list[dict[str, Any]]:
    """The events that end a streamed task: the answer as an artifact (when it completed), then the
    final status."""
    output = await runs_service.final_output(services, prepared.thread_id, prepared.run_id)
    finished = await finished_task(services, prepared, output, history_scope="context", history_length=0)
    state = finished["status"]["state"]
    task_id, context_id = finished["id"], prepared.thread_id
    events = []
    if state == "completed":
        events.append(wire.artifact_update(task_id, context_id, output, prepared.assistant["assistant_id"]))
    message = wire.status_message(state, output, task_id=task_id, context_id=context_id)
    events.append(wire.status_update(task_id, context_id, state, message=message, final=True))
    return events
