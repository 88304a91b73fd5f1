"""Request bodies of the assistant and thread endpoints (upstream OpenAPI names), and the
pagination headers of their search endpoints.

Every field the official SDK sends is accepted; any other field is a 422 naming it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IfExists = Literal["raise", "do_nothing"]
SortOrder = Literal["asc", "desc"]
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
TtlStrategy = Literal["delete", "keep_latest"]
VERSION_MAX = 2**31 - 1  # assistant versions are PostgreSQL `integer`s


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantConfig(BaseModel):
    """A RunnableConfig: the keys the spec names are checked, any other key is kept for the graph."""

    model_config = ConfigDict(extra="allow")

    tags: list[str] | None = None
    recursion_limit: int | None = Field(default=None, ge=1)
    configurable: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AssistantCreate(_Body):
    assistant_id: str | None = None
    graph_id: str
    config: AssistantConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: IfExists | None = None
    name: str | None = None
    description: str | None = None


class AssistantPatch(_Body):
    graph_id: str | None = None
    config: AssistantConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class AssistantSearchRequest(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["assistant_id", "created_at", "updated_at", "name", "graph_id"] | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None


class AssistantCountRequest(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


class AssistantVersionsSearchRequest(_Body):
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class AssistantVersionChange(_Body):
    version: int | None = Field(default=None, ge=1, le=VERSION_MAX)


class ThreadTtl(_Body):
    strategy: TtlStrategy = "delete"
    ttl: float | None = Field(default=None, ge=0, description="minutes")


class Command(_Body):
    update: dict[str, Any] | list[Any] | None = None
    resume: Any = None
    goto: Any = None


class ThreadSuperstepUpdate(_Body):
    values: dict[str, Any] | list[Any] | None = None
    command: Command | None = None
    as_node: str


class ThreadSuperstep(_Body):
    updates: list[ThreadSuperstepUpdate]


class ThreadCreate(_Body):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: IfExists | None = None
    ttl: ThreadTtl | None = None
    supersteps: list[ThreadSuperstep] | None = None


class ThreadPatch(_Body):
    metadata: dict[str, Any] | None = None
    ttl: ThreadTtl | None = None


class ThreadSearchRequest(_Body):
    ids: list[str] | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None
    extract: dict[str, str] | None = None


class ThreadCountRequest(_Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class ThreadPruneRequest(_Body):
    thread_ids: list[str]
    strategy: TtlStrategy = "delete"


class CheckpointConfig(_Body):
    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ThreadStateUpdate(_Body):
    values: dict[str, Any] | list[Any] | None = None
    checkpoint: CheckpointConfig | None = None
    checkpoint_id: str | None = None
    as_node: str | None = None


class ThreadStateCheckpointRequest(_Body):
    checkpoint: CheckpointConfig
    subgraphs: bool = False
    select: list[str] | None = None


class ThreadStateSearch(_Body):
    limit: int = Field(default=1, ge=1, le=1000)
    before: str | CheckpointConfig | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointConfig | None = None
    select: list[str] | None = None


def pagination_headers(count: int, offset: int, next_offset: int | None) -> dict[str, str]:
    """As the official server: with a next page, Total is only `next_offset + 1`."""
    if next_offset is None:
        return {"X-Pagination-Total": str(offset + count)}
    return {"X-Pagination-Total": str(next_offset + 1), "X-Pagination-Next": str(next_offset)}
