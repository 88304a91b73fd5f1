"""Run request bodies (shared by router.api and router.services). Every field the official SDK sends is accepted; anything else is a 422 that
names the field. Fields LangOpen does not act on yet are refused with a 422 when set (never ignored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts import ids

StreamModeName = Literal[
    "values", "messages", "messages-tuple", "tasks", "checkpoints", "updates", "events", "debug", "custom"
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Command(_Body):
    update: dict[str, Any] | list[Any] | None = None
    resume: Any = None
    goto: Any = None


class Checkpoint(_Body):
    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class RunConfig(BaseModel):
    # RunnableConfig keys beyond these are passed through to the graph, as the official server does.
    model_config = ConfigDict(extra="allow")

    tags: list[str] | None = None
    recursion_limit: int | None = Field(default=None, ge=1)
    configurable: dict[str, Any] | None = None


class LangsmithTracer(_Body):
    project_name: str | None = None
    example_id: str | None = None


class RunCreate(_Body):
    """The stateless body; `RunCreateStateful` adds the thread-only fields."""

    assistant_id: str
    input: dict[str, Any] | list[Any] | str | int | float | bool | None = None
    command: Command | None = None
    metadata: dict[str, Any] | None = None
    config: RunConfig | None = None
    context: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None
    checkpoint_during: bool | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamModeName | list[StreamModeName] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] = "continue"
    after_seconds: float = Field(default=0, ge=0)
    durability: Literal["sync", "async", "exit"] | None = None
    webhook: str | None = Field(default=None, min_length=1, max_length=65536)
    feedback_keys: list[str] | None = None
    langsmith_tracer: LangsmithTracer | None = None
    strict_resume: bool | None = None

    @field_validator("feedback_keys")
    @classmethod
    def _no_feedback(cls, value: list[str] | None) -> list[str] | None:
        if value:
            raise ValueError("feedback keys need LangSmith, which this server does not use")
        return value

    @field_validator("langsmith_tracer")
    @classmethod
    def _no_tracer(cls, value: LangsmithTracer | None) -> LangsmithTracer | None:
        if value is not None:
            raise ValueError("LangSmith tracing is not supported by this server")
        return value

    @model_validator(mode="after")
    def _check(self) -> RunCreate:
        if self.input is not None and self.command is not None:
            raise ValueError("input and command are mutually exclusive")
        return self

    def stream_modes(self) -> list[StreamModeName]:
        modes = [self.stream_mode] if isinstance(self.stream_mode, str) else list(self.stream_mode)
        return list(dict.fromkeys(modes)) or ["values"]

    def durability_mode(self) -> Literal["sync", "async", "exit"]:
        if self.durability is not None:
            return self.durability
        if self.checkpoint_during is False:
            return "exit"
        return "async"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RunBatchItem(RunCreate):
    """One item of `POST /runs/batch`. The JavaScript SDK's `runs.createBatch` sends each item as the
    caller wrote it, in camelCase (`assistantId`, `onCompletion`, ...), next to the `assistant_id` it
    adds. The official server silently drops the camelCase options; here they count as the fields
    they name, and the two spellings of one field must agree."""

    @model_validator(mode="before")
    @classmethod
    def _from_camel(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in RunCreate.model_fields:
            camel = _camel(name)
            if camel == name or camel not in out:
                continue
            value = out.pop(camel)
            if name in out and out[name] != value:
                raise ValueError(f"{camel} and {name} differ")
            out[name] = value
        return out


class RunCreateStateful(RunCreate):
    multitask_strategy: Literal["reject", "rollback", "interrupt", "enqueue"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"


class RunsCancel(_Body):
    status: Literal["pending", "running", "all"] | None = None
    thread_id: str | None = None
    run_ids: list[str] | None = None

    @field_validator("thread_id")
    @classmethod
    def _thread_uuid(cls, value: str | None) -> str | None:
        if value is not None and not ids.is_uuid(value):
            raise ValueError("must be a UUID")
        return value

    @field_validator("run_ids")
    @classmethod
    def _run_uuids(cls, value: list[str] | None) -> list[str] | None:
        for run_id in value or ():
            if not ids.is_uuid(run_id):
                raise ValueError(f"{run_id!r} is not a UUID")
        return value

    @model_validator(mode="after")
    def _check(self) -> RunsCancel:
        if self.status is not None and (self.thread_id is not None or self.run_ids is not None):
            raise ValueError("status is mutually exclusive with thread_id and run_ids")
        if self.status is None and self.thread_id is None and self.run_ids is None:
            raise ValueError("give status, thread_id or run_ids")
        return self


class _CronRunFields(_Body):
    """What a cron's runs are made of (stored as the cron's `payload`)."""

    input: dict[str, Any] | list[Any] | None = None
    metadata: dict[str, Any] | None = None
    config: RunConfig | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = Field(default=None, min_length=1, max_length=65536)
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_during: bool | None = None


class CronCreate(_CronRunFields):
    """`POST /runs/crons` and `POST /threads/{thread_id}/runs/crons`; `on_run_completed` is for
    stateless crons only (their runs' threads), `multitask_strategy` for thread crons' runs."""

    assistant_id: str
    schedule: str = Field(min_length=1)
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool = True
    on_run_completed: Literal["delete", "keep"] | None = None
    multitask_strategy: Literal["reject", "rollback", "interrupt", "enqueue"] | None = None


class CronPatch(_CronRunFields):
    """`PATCH /runs/crons/{cron_id}`: an explicit `end_time: null` clears the end time."""

    schedule: str | None = Field(default=None, min_length=1)
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    on_run_completed: Literal["delete", "keep"] | None = None


CronSortBy = Literal[
    "cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"
]
CronSelectField = Literal[
    "cron_id",
    "assistant_id",
    "thread_id",
    "on_run_completed",
    "end_time",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "user_id",
    "payload",
    "next_run_date",
    "metadata",
    "enabled",
]


class CronSearch(_Body):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: CronSortBy = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[CronSelectField] | None = None


class CronCount(_Body):
    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
