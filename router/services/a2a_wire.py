"""A2A wire shapes built from LangGraph runs: tasks, messages, artifacts, stream events, agent cards.

Everything is built in the v0.3 form the official server sends (`kind` discriminators, lowercase
`completed`/`agent`); `to_v1` renames roles and task states for the v1.0 method family
(`TASK_STATE_COMPLETED`, `ROLE_AGENT`) and leaves the rest as it is, as the official server does.

A task is one run: its id is `{contextId}:{run_id}` and its context is the run's thread. Inbound
messages carry `additional_kwargs.a2a.task_start_id` (the run id), which marks where each task's
messages start in the thread's message list (`historyScope: task`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from contracts import ids
from router.models import Assistant

HISTORY_SCOPE_EXTENSION = "https://langchain.com/a2a/extensions/history-scope/v1"
HISTORY_SCOPE_HEADER = "LangGraph-A2A-History-Scope"
MODES = ["application/json", "text/plain"]
TERMINAL_STATES = frozenset({"completed", "failed", "canceled", "rejected"})

STATE_V1 = {
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "completed": "TASK_STATE_COMPLETED",
    "failed": "TASK_STATE_FAILED",
    "canceled": "TASK_STATE_CANCELED",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "rejected": "TASK_STATE_REJECTED",
    "auth-required": "TASK_STATE_AUTH_REQUIRED",
}
STATE_FROM_V1 = {v1: v03 for v03, v1 in STATE_V1.items()}
ROLE_V1 = {"user": "ROLE_USER", "agent": "ROLE_AGENT"}
_OPAQUE_KEYS = frozenset({"data", "metadata", "params"})  # user payloads: never renamed inside


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def to_v1(value: Any) -> Any:
    """`value` with roles and task states spelled the v1.0 way (SCREAMING_SNAKE_CASE)."""
    if isinstance(value, list):
        return [to_v1(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in _OPAQUE_KEYS:
            out[key] = item
        elif key == "role" and isinstance(item, str):
            out[key] = ROLE_V1.get(item, item)
        elif key == "state" and isinstance(item, str):
            out[key] = STATE_V1.get(item, item)
        else:
            out[key] = to_v1(item)
    return out


def task_id_of(context_id: str, run_id: str) -> str:
    return f"{context_id}:{run_id}"


def parse_task_id(task_id: Any) -> tuple[str, str] | None:
    """(thread_id, run_id) of a task id this server minted, else None."""
    if not isinstance(task_id, str):
        return None
    context_id, _, run_id = task_id.partition(":")
    if not (ids.is_uuid(context_id) and ids.is_uuid(run_id)):
        return None
    return str(uuid.UUID(context_id)), str(uuid.UUID(run_id))


def run_state(status: str, cancel_action: str | None, output: Any = None) -> str:
    """The A2A task state of a run: a cancelled run is `canceled`; one that paused (on `interrupt()`,
    its output carries `__interrupt__`, or at an interrupt_before/after node) `input-required`."""
    if status == "interrupted":
        return "canceled" if cancel_action else "input-required"
    if status == "success" and isinstance(output, dict) and output.get("__interrupt__"):
        return "input-required"
    return {
        "pending": "submitted",
        "running": "working",
        "success": "completed",
        "error": "failed",
        "timeout": "failed",
    }.get(status, "submitted")


def content_text(content: Any) -> str:
    """The text of a LangChain message content: a string, or the text blocks of a block list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                texts.append(str(block.get("text", "")))
        return "".join(texts)
    return orjson.dumps(content).decode()


def text_part(text: str) -> dict[str, Any]:
    return {"kind": "text", "text": text}


def agent_message(
    parts: list[dict[str, Any]], *, task_id: str, context_id: str, message_id: str | None = None
) -> dict[str, Any]:
    return {
        "kind": "message",
        "role": "agent",
        "parts": parts,
        "messageId": message_id or str(uuid.uuid4()),
        "taskId": task_id,
        "contextId": context_id,
    }


def lc_message(message: dict[str, Any], *, task_id: str, context_id: str) -> dict[str, Any]:
    """A LangChain message (as serialized in thread values) as an A2A message."""
    is_user = message.get("type") in ("human", "HumanMessageChunk") or message.get("role") == "user"
    return {
        "kind": "message",
        "role": "user" if is_user else "agent",
        "parts": [text_part(content_text(message.get("content", "")))],
        "messageId": str(message.get("id") or uuid.uuid4()),
        "taskId": task_id,
        "contextId": context_id,
    }


def _task_start(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    marker = (message.get("additional_kwargs") or {}).get("a2a")
    return str(marker["task_start_id"]) if isinstance(marker, dict) and "task_start_id" in marker else None


def history(
    values: Any,
    *,
    context_id: str,
    run_id: str,
    scope: str,
    length: int | None,
) -> list[dict[str, Any]]:
    """The task's history from thread values: every message of the context (`scope=context`) or only
    those of this task (`scope=task`), then the last `length` of them."""
    messages = values.get("messages") if isinstance(values, dict) else None
    if not isinstance(messages, list):
        return []
    current = task_id_of(context_id, run_id)
    owner: str | None = None  # messages before the first A2A turn belong to no task
    out: list[tuple[str | None, dict[str, Any]]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        start = _task_start(message)
        if start is not None:
            owner = task_id_of(context_id, start)
        out.append((owner, lc_message(message, task_id=owner or current, context_id=context_id)))
    picked = [m for owner, m in out if owner == current] if scope == "task" else [m for _, m in out]
    if length is not None:
        picked = picked[-length:] if length > 0 else []
    return picked


def response_text(output: Any) -> str:
    """The answer of a run: its last AI message's text, else the whole output as JSON."""
    messages = output.get("messages") if isinstance(output, dict) else None
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and (
                message.get("type") == "ai" or message.get("role") == "assistant"
            ):
                return content_text(message.get("content", ""))
    return orjson.dumps(output).decode()


def artifact(output: Any, assistant_id: str) -> dict[str, Any]:
    return {
        "artifactId": str(uuid.uuid4()),
        "name": "Assistant Response",
        "description": f"Response from assistant {assistant_id}",
        "parts": [text_part(response_text(output))],
    }


def _value_part(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return text_part(value)
    return {"kind": "data", "data": value if isinstance(value, dict) else {"value": value}}


def status_message(state: str, output: Any, *, task_id: str, context_id: str) -> dict[str, Any] | None:
    """The agent message a task status carries: why it failed, what input it waits for."""
    if state == "failed":
        error = output.get("__error__") if isinstance(output, dict) else None
        error = error if isinstance(error, dict) else {}
        text = f"Error executing assistant: {error.get('error', 'Error')}: {error.get('message', '')}"
        return agent_message([text_part(text)], task_id=task_id, context_id=context_id)
    if state == "input-required":
        interrupts = output.get("__interrupt__") if isinstance(output, dict) else None
        parts = [_value_part(i.get("value")) for i in interrupts or [] if isinstance(i, dict)]
        return agent_message(parts or [text_part("Input required")], task_id=task_id, context_id=context_id)
    if state == "canceled":
        return agent_message([text_part("Task canceled")], task_id=task_id, context_id=context_id)
    return None


def task(
    *,
    context_id: str,
    run_id: str,
    assistant_id: str,
    state: str,
    output: Any,
    history_messages: list[dict[str, Any]],
    include_artifacts: bool = True,
) -> dict[str, Any]:
    task_id = task_id_of(context_id, run_id)
    status: dict[str, Any] = {"state": state, "timestamp": now_iso()}
    message = status_message(state, output, task_id=task_id, context_id=context_id)
    if message is not None:
        status["message"] = message
    body: dict[str, Any] = {
        "kind": "task",
        "id": task_id,
        "contextId": context_id,
        "history": history_messages,
        "status": status,
    }
    if state == "completed" and include_artifacts:
        body["artifacts"] = [artifact(output, assistant_id)]
    return body


def status_update(
    task_id: str, context_id: str, state: str, *, message: dict[str, Any] | None = None, final: bool = False
) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state}
    if message is not None:
        status["message"] = message
    status["timestamp"] = now_iso()
    return {
        "taskId": task_id,
        "contextId": context_id,
        "kind": "status-update",
        "status": status,
        "final": final,
    }


def artifact_update(task_id: str, context_id: str, output: Any, assistant_id: str) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "contextId": context_id,
        "kind": "artifact-update",
        "artifact": artifact(output, assistant_id),
        "append": False,
        "lastChunk": True,
    }


def agent_card(
    assistant: Assistant, input_schema: dict[str, Any] | None, *, base_url: str, version: str
) -> dict[str, Any]:
    """The assistant's agent card, as the official server builds it."""
    assistant_id, name = assistant["assistant_id"], assistant["name"]
    description = assistant.get("description") or f"{name} assistant"
    properties = (input_schema or {}).get("properties") or {}
    url = f"{base_url.rstrip('/')}/a2a/{assistant_id}"
    return {
        "name": name,
        "description": description,
        "url": url,
        "supportedInterfaces": [{"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {
            "streaming": True,
            "pushNotifications": False,
            "stateTransitionHistory": False,
            "extensions": [
                {
                    "uri": HISTORY_SCOPE_EXTENSION,
                    "description": "Choose task-only or full-context response history",
                    "required": False,
                    "params": {
                        "header": HISTORY_SCOPE_HEADER,
                        "values": ["context", "task"],
                        "default": "context",
                        "methods": ["SendMessage", "GetTask", "ListTasks"],
                    },
                }
            ],
        },
        "defaultInputModes": MODES,
        "defaultOutputModes": MODES,
        "skills": [
            {
                "id": f"{assistant_id}-main",
                "name": f"{name} Capabilities",
                "description": description,
                "tags": ["assistant", "langgraph"],
                "examples": [],
                "inputModes": MODES,
                "outputModes": MODES,
                "metadata": {
                    "inputSchema": {
                        "required": (input_schema or {}).get("required") or [],
                        "properties": sorted(properties),
                        "supportsA2A": "messages" in properties,
                    }
                },
            }
        ],
        "version": version,
    }
