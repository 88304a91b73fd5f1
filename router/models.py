"""Resources as the router hands them between layers: the official wire shapes, as TypedDicts.

Timestamps are ISO-8601 strings with microseconds and `+00:00`, as the official server writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
MultitaskStrategy = Literal["reject", "rollback", "interrupt", "enqueue"]
CancelAction = Literal["interrupt", "rollback"]

TERMINAL_RUN_STATUSES: frozenset[str] = frozenset({"error", "success", "timeout", "interrupted"})


class Assistant(TypedDict):
    assistant_id: str
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    created_at: str
    updated_at: str
    version: int
    description: str | None


class AssistantVersion(TypedDict):
    assistant_id: str
    version: int
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    created_at: str
    name: str
    description: str | None


class Thread(TypedDict):
    thread_id: str
    created_at: str
    updated_at: str
    state_updated_at: str
    metadata: dict[str, Any]
    status: ThreadStatus
    config: dict[str, Any]
    values: Any
    interrupts: NotRequired[dict[str, Any]]
    error: NotRequired[Any]
    ttl: NotRequired[Any]


class Run(TypedDict):
    run_id: str
    thread_id: str
    assistant_id: str
    metadata: dict[str, Any]
    status: RunStatus
    kwargs: dict[str, Any]
    multitask_strategy: MultitaskStrategy
    created_at: str
    updated_at: str
    langsmith_session_name: str | None


def isoformat(value: datetime) -> str:
    return value.isoformat()


def is_terminal(status: str) -> bool:
    return status in TERMINAL_RUN_STATUSES


class Cron(TypedDict):
    cron_id: str
    assistant_id: str
    thread_id: str | None
    user_id: str
    end_time: str | None
    schedule: str
    timezone: str | None
    payload: dict[str, Any]
    next_run_date: str | None
    metadata: dict[str, Any]
    on_run_completed: str | None
    enabled: bool
    created_at: str
    updated_at: str
