"""The runtime contract between the router (dispatcher) and a function service.

Every request is a binary-mode CloudEvent POSTed to the function service's root URL; the HTTP reply
is a binary-mode CloudEvent too. A run request is held open for the whole run: an HTTP request in
flight is what keeps a Knative Service scaled up, and a dropped connection tells the function to stop
that attempt. See docs/runtime-contract.md.

| request type            | payload            | reply type               | reply payload      |
|-------------------------|--------------------|--------------------------|--------------------|
| RUN_REQUESTED           | RunRequest         | RUN_OUTCOME              | RunOutcome         |
| GRAPH_INFO_REQUESTED    | GraphInfoRequest   | GRAPH_INFO               | GraphInfo          |
| STATE_GET_REQUESTED     | StateGetRequest    | STATE                    | JSON (ThreadState) |
| STATE_HISTORY_REQUESTED | StateHistoryRequest| STATE_HISTORY            | JSON list          |
| STATE_UPDATE_REQUESTED  | StateUpdateRequest | STATE_UPDATED            | StateUpdateResult  |
| STORE_REQUESTED         | StoreRequest       | STORE_RESULT             | StoreResult        |
| APP_REQUESTED           | AppRequest         | APP                      | app_config.AppSummary |

A request the function cannot serve gets the FAILED reply type with a `Failure` payload and an HTTP
status (400 bad request, 404 unknown graph/checkpoint, 500 otherwise).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SPEC_SOURCE_ROUTER = "/langopen/router"
SPEC_SOURCE_FUNCTION = "/langopen/function"

RUN_REQUESTED = "dev.langopen.run.requested.v1"
RUN_OUTCOME = "dev.langopen.run.outcome.v1"
GRAPH_INFO_REQUESTED = "dev.langopen.graph.info.requested.v1"
GRAPH_INFO = "dev.langopen.graph.info.v1"
STATE_GET_REQUESTED = "dev.langopen.state.get.requested.v1"
STATE = "dev.langopen.state.v1"
STATE_HISTORY_REQUESTED = "dev.langopen.state.history.requested.v1"
STATE_HISTORY = "dev.langopen.state.history.v1"
STATE_UPDATE_REQUESTED = "dev.langopen.state.update.requested.v1"
STATE_UPDATED = "dev.langopen.state.updated.v1"
STORE_REQUESTED = "dev.langopen.store.requested.v1"
STORE_RESULT = "dev.langopen.store.result.v1"
APP_REQUESTED = "dev.langopen.app.requested.v1"
APP = "dev.langopen.app.v1"
FAILED = "dev.langopen.failed.v1"

# CloudEvent extension attributes (lower-case alphanumerics only, per the spec)
EXT_RUN_ID = "runid"
EXT_ATTEMPT = "attempt"
EXT_TRACEPARENT = "traceparent"

StreamMode = Literal[
    "values", "messages", "messages-tuple", "tasks", "checkpoints", "updates", "events", "debug", "custom"
]
Durability = Literal["sync", "async", "exit"]
RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
CancelAction = Literal["interrupt", "rollback"]


DEFAULT_DEPLOYMENT_ID = "00000000-0000-0000-0000-000000000001"
"""The deployment migration 0004 creates (`default`); every other deployment's store items live
under the namespace label `deployment-<id>` (functions.store.DeploymentStore)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(_Model):
    """Everything a function needs to execute one attempt of a run; it reads nothing else."""

    run_id: str
    thread_id: str
    assistant_id: str
    graph_id: str
    attempt: int = Field(ge=1)
    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] = Field(default_factory=dict, description="RunnableConfig; configurable filled in")
    context: dict[str, Any] | None = None
    stream_mode: list[StreamMode] = Field(default_factory=lambda: list[StreamMode](["values"]))
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    resumable_ttl_seconds: int = Field(default=120, ge=1)
    interrupt_before: list[str] | Literal["*"] | None = None
    interrupt_after: list[str] | Literal["*"] | None = None
    checkpoint: dict[str, Any] | None = Field(default=None, description="{checkpoint_id, checkpoint_ns, ...}")
    durability: Durability = "async"
    timeout_seconds: float | None = Field(default=None, gt=0, description="whole-run deadline")
    redis_prefix: str = Field(description="contracts.queue.Keys prefix the router uses")
    deployment_id: str | None = Field(
        default=None, description="the run's deployment: its graph's store sees only that deployment's items"
    )


class RunError(_Model):
    error: str
    message: str


class RunOutcome(_Model):
    """How one attempt ended. `values` is the thread's last state values (None if never reached)."""

    run_id: str
    attempt: int
    status: Literal["success", "error", "interrupted", "timeout"]
    values: Any = None
    interrupts: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="task id → [{value, id}] pending interrupts"
    )
    error: RunError | None = None
    cancel_action: CancelAction | None = Field(default=None, description="set when a cancel ended the run")
    checkpoint_id: str | None = None
    next: list[str] = Field(
        default_factory=list, description="nodes due next; non-empty after interrupt_before/after stops a run"
    )


class GraphInfoRequest(_Model):
    graph_id: str
    kind: Literal["schemas", "graph", "subgraphs"]
    config: dict[str, Any] = Field(default_factory=dict, description="assistant config")
    context: dict[str, Any] = Field(default_factory=dict)
    xray: bool | int = False
    namespace: str | None = None
    recurse: bool = False


class GraphInfo(_Model):
    graph_id: str
    kind: Literal["schemas", "graph", "subgraphs"]
    body: Any


class StateGetRequest(_Model):
    graph_id: str
    thread_id: str
    config: dict[str, Any] = Field(default_factory=dict, description="assistant config")
    checkpoint: dict[str, Any] | None = None
    subgraphs: bool = False


class StateHistoryRequest(_Model):
    graph_id: str
    thread_id: str
    config: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(default=10, ge=1)
    before: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None


class StateUpdateRequest(_Model):
    graph_id: str
    thread_id: str
    config: dict[str, Any] = Field(default_factory=dict)
    values: Any = None
    as_node: str | None = None
    checkpoint: dict[str, Any] | None = None
    supersteps: list[dict[str, Any]] | None = None


class StateUpdateResult(_Model):
    checkpoint: dict[str, Any]
    values: Any = None
    interrupts: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    next: list[str] = Field(default_factory=list)


class StorePut(_Model):
    """Write an item (store.aput). `ttl` in minutes; "default" applies the store's `default_ttl`."""

    op: Literal["put"] = "put"
    namespace: list[str] = Field(min_length=1)
    key: str
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | Literal["default"] | None = "default"


class StoreGet(_Model):
    op: Literal["get"] = "get"
    namespace: list[str]
    key: str
    refresh_ttl: bool | None = Field(default=None, description="None: the store's refresh_on_read")


class StoreDelete(_Model):
    op: Literal["delete"] = "delete"
    namespace: list[str]
    key: str


class StoreSearch(_Model):
    """Items under a namespace prefix: newest first, or by similarity to `query` when indexed."""

    op: Literal["search"] = "search"
    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1)
    offset: int = Field(default=0, ge=0)
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreListNamespaces(_Model):
    op: Literal["list_namespaces"] = "list_namespaces"
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(default=None, ge=1)
    limit: int = Field(default=100, ge=1)
    offset: int = Field(default=0, ge=0)


StoreOperation = Annotated[
    StorePut | StoreGet | StoreDelete | StoreSearch | StoreListNamespaces, Field(discriminator="op")
]


class StoreRequest(_Model):
    """One operation on the deployment's store, executed by the function service (docs/decisions/0005)."""

    operation: StoreOperation
    deployment_id: str | None = Field(
        default=None, description="the deployment whose items the operation sees (None: the default one)"
    )


class StoreItem(_Model):
    """An item as the official server answers it; timestamps are ISO 8601 in UTC."""

    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: str
    updated_at: str


class StoreSearchItem(StoreItem):
    score: float | None = Field(default=None, description="similarity to the query; None without one")


class StoreResult(_Model):
    """`item` answers get (None: no such item), `items` search, `namespaces` list_namespaces."""

    op: Literal["put", "get", "delete", "search", "list_namespaces"]
    item: StoreItem | None = None
    items: list[StoreSearchItem] = Field(default_factory=list)
    namespaces: list[list[str]] = Field(default_factory=list)


class AppRequest(_Model):
    """Ask a function service which app it serves (graphs, `http`, `auth`, `webhooks`)."""


class Failure(_Model):
    error: str
    message: str
