"""CloudEvents triggers: subscriptions (CRUD) and receiving an event (docs/events.md).

Receiving is one transaction: record (source, id) under its unique constraint, find the enabled
subscriptions whose filters match, create one run per subscription with
`router.services.runs.create_locked` (thread locks taken in thread-id order), record the runs, commit;
then `runs.announce` each run. A repeat of (source, id) finds the row and returns the runs it
recorded, starting nothing. If any run is refused (a `reject` strategy on a busy thread, a webhook the
policy refuses) nothing is recorded, so the sender may deliver the event again.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import ids
from router import errors
from router.requests import RunConfig, RunCreate, RunCreateStateful
from router.services import assistants as assistants_service
from router.services import runs as runs_service
from router.services import templates
from router.services import webhooks as webhooks_service
from router.services.context import Services
from router.store import triggers as store

ThreadMode = Literal["stateless", "fixed", "subject"]
Strategy = Literal["reject", "rollback", "interrupt", "enqueue"]
SUBJECT_THREADS = uuid.UUID("5b0c7f55-4f3c-4d43-9a0e-6c1f0e9f6a31")
"""uuid5 namespace of the threads a `subject` subscription creates: one per (subscription, subject)."""
DEFAULT_INPUT: dict[str, Any] = {"$event": "data"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventFilter(_Body):
    """Exact matches on `type`, `source`, `subject`; prefix matches on `source`, `subject`. An
    unset field matches anything."""

    type: str | None = Field(default=None, min_length=1)
    source: str | None = Field(default=None, min_length=1)
    source_prefix: str | None = Field(default=None, min_length=1)
    subject: str | None = Field(default=None, min_length=1)
    subject_prefix: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_per_attribute(self) -> EventFilter:
        for name in ("source", "subject"):
            if getattr(self, name) is not None and getattr(self, f"{name}_prefix") is not None:
                raise ValueError(f"give {name} or {name}_prefix, not both")
        return self


class SubscriptionCreate(_Body):
    assistant_id: str
    filter: EventFilter = Field(default_factory=EventFilter)
    input: Any = Field(default_factory=lambda: dict(DEFAULT_INPUT), description="a template (docs/events.md)")
    thread_mode: ThreadMode = "stateless"
    thread_id: str | None = None
    multitask_strategy: Strategy = "enqueue"
    config: RunConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    webhook: str | None = Field(default=None, min_length=1, max_length=65536)
    enabled: bool = True


class SubscriptionPatch(_Body):
    assistant_id: str | None = None
    filter: EventFilter | None = None
    input: Any = None
    thread_mode: ThreadMode | None = None
    thread_id: str | None = None
    multitask_strategy: Strategy | None = None
    config: RunConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    webhook: str | None = Field(default=None, min_length=1, max_length=65536)
    enabled: bool | None = None


@dataclass(frozen=True)
class Event:
    """A parsed CloudEvent: its attributes (extensions included, `time` as text) and data."""

    attributes: dict[str, Any]
    data: Any

    @property
    def id(self) -> str:
        return str(self.attributes["id"])

    @property
    def source(self) -> str:
        return str(self.attributes["source"])

    @property
    def type(self) -> str:
        return str(self.attributes["type"])

    @property
    def subject(self) -> str | None:
        subject = self.attributes.get("subject")
        return str(subject) if subject is not None else None

    def template_view(self) -> dict[str, Any]:
        view = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.attributes.items()}
        data = self.data
        if isinstance(data, bytes | bytearray):
            data = base64.b64encode(data).decode()
        if data is not None:
            view["data"] = data
        return view


@dataclass(frozen=True)
class Received:
    """The answer to an event: the runs it started, and whether it was seen before."""

    duplicate: bool
    event: Event
    runs: list[dict[str, str]]

    def body(self) -> dict[str, Any]:
        return {
            "id": self.event.id,
            "source": self.event.source,
            "duplicate": self.duplicate,
            "runs": self.runs,
        }


def _check_thread(thread_mode: str, thread_id: str | None) -> str | None:
    if thread_mode == "fixed":
        if thread_id is None or not ids.is_uuid(thread_id):
            raise errors.UnprocessableError("thread_id: a UUID is required when thread_mode is 'fixed'")
        return str(uuid.UUID(thread_id))
    if thread_id is not None:
        raise errors.UnprocessableError("thread_id: only thread_mode 'fixed' takes a thread_id")
    return None


async def _assistant_id(services: Services, value: str) -> str:
    try:
        assistant = await assistants_service.resolve(services, value)
    except errors.AssistantNotFoundError as exc:
        raise errors.NotFoundError(f"Assistant {value} not found") from exc
    return assistant["assistant_id"]


async def _fields(services: Services, body: SubscriptionCreate) -> dict[str, Any]:
    """Validated column values of a subscription."""
    templates.check(body.input)
    if body.webhook is not None:
        webhooks_service.check_url(services, body.webhook)
    return {
        "assistant_id": await _assistant_id(services, body.assistant_id),
        "event_type": body.filter.type,
        "source": body.filter.source,
        "source_prefix": body.filter.source_prefix,
        "subject": body.filter.subject,
        "subject_prefix": body.filter.subject_prefix,
        "input": body.input,
        "thread_mode": body.thread_mode,
        "thread_id": _check_thread(body.thread_mode, body.thread_id),
        "multitask_strategy": body.multitask_strategy,
        "config": body.config.model_dump(exclude_none=True) if body.config else {},
        "context": body.context or {},
        "metadata": body.metadata or {},
        "webhook": body.webhook,
        "enabled": body.enabled,
    }


async def create(services: Services, body: SubscriptionCreate) -> dict[str, Any]:
    row = await store.insert(services.pool, str(ids.uuid7()), await _fields(services, body))
    return store.to_subscription(row)


async def get(services: Services, subscription_id: str) -> dict[str, Any]:
    row = await store.get(services.pool, subscription_id)
    if row is None:
        raise errors.NotFoundError(f"Subscription {subscription_id} not found")
    return store.to_subscription(row)


async def list_subscriptions(
    services: Services, *, assistant_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    if assistant_id is not None:
        assistant_id = await _assistant_id(services, assistant_id)
    rows = await store.list_subscriptions(
        services.pool, assistant_id=assistant_id, limit=limit, offset=offset
    )
    return [store.to_subscription(r) for r in rows]


async def patch(services: Services, subscription_id: str, body: SubscriptionPatch) -> dict[str, Any]:
    """Change the given fields; the result is validated as a whole, as on create."""
    given = body.model_fields_set
    if not given:
        raise errors.InvalidRequestError("No fields to update")
    async with services.pool.acquire() as conn, conn.transaction():
        row = await store.lock(conn, subscription_id)
        if row is None:
            raise errors.NotFoundError(f"Subscription {subscription_id} not found")
        merged = {k: v for k, v in store.to_subscription(row).items() if k in SubscriptionCreate.model_fields}
        merged["filter"] = {k: v for k, v in merged["filter"].items() if v is not None}
        if "thread_mode" in given and "thread_id" not in given:
            merged["thread_id"] = None
        merged.update(body.model_dump(mode="json", include=given, exclude_none=False))
        merged = {k: v for k, v in merged.items() if v is not None or k in ("input", "thread_id")}
        try:
            whole = SubscriptionCreate.model_validate(merged)
        except ValueError as exc:
            raise errors.UnprocessableError(str(exc)) from exc
        row = await store.update(conn, subscription_id, await _fields(services, whole))
    return store.to_subscription(row)


async def delete(services: Services, subscription_id: str) -> None:
    if not await store.delete(services.pool, subscription_id):
        raise errors.NotFoundError(f"Subscription {subscription_id} not found")


def _thread_for(row: store.Record, event: Event) -> str | None:
    if row["thread_mode"] == "fixed":
        return str(row["thread_id"])
    if row["thread_mode"] == "subject":
        return str(uuid.uuid5(SUBJECT_THREADS, f"{row['subscription_id']}\n{event.subject}"))
    return None


def _run_body(row: store.Record, event: Event, thread_id: str | None) -> RunCreate:
    metadata = {
        **row["metadata"],
        "event_id": event.id,
        "event_source": event.source,
        "event_type": event.type,
        "event_subscription_id": str(row["subscription_id"]),
    }
    fields: dict[str, Any] = {
        "assistant_id": str(row["assistant_id"]),
        "input": templates.render(row["input"], event.template_view()),
        "metadata": metadata,
        "config": row["config"] or None,
        "context": row["context"] or None,
        "webhook": row["webhook"],
    }
    if thread_id is None:
        return RunCreate.model_validate(fields)
    return RunCreateStateful.model_validate({**fields, "multitask_strategy": row["multitask_strategy"]})


async def receive(services: Services, event: Event) -> Received:
    """Start the runs `event` triggers, once per (source, id)."""
    created: list[runs_service.LockedRun] = []
    async with services.pool.acquire() as conn, conn.transaction():
        first = await store.claim_delivery(
            conn, source=event.source, event_id=event.id, event_type=event.type, subject=event.subject
        )
        if not first:
            seen = await store.get_delivery(conn, source=event.source, event_id=event.id)
            assert seen is not None
            return Received(duplicate=True, event=event, runs=list(seen["runs"]))
        subscriptions = await store.matching(
            conn, event_type=event.type, source=event.source, subject=event.subject
        )
        plans = [(row, _thread_for(row, event)) for row in subscriptions]
        bodies = [(row, thread_id, _run_body(row, event, thread_id)) for row, thread_id in plans]
        # thread locks in one order, so two events sharing threads cannot deadlock
        bodies.sort(key=lambda plan: (plan[1] is None, plan[1] or ""))
        runs: list[dict[str, str]] = []
        for row, thread_id, body in bodies:
            if body.webhook is not None:
                webhooks_service.check_url(services, body.webhook)
            # the subscription's thread is created on first use, as the run's own creation would
            locked = await runs_service.create_locked(
                services, conn, body, thread_id=thread_id, if_not_exists="create"
            )
            created.append(locked)
            runs.append(
                {
                    "run_id": locked.run["run_id"],
                    "thread_id": locked.run["thread_id"],
                    "subscription_id": str(row["subscription_id"]),
                }
            )
        await store.set_delivery_runs(conn, source=event.source, event_id=event.id, runs=runs)
    for locked in created:
        await runs_service.announce(services, locked)
    return Received(duplicate=False, event=event, runs=runs)
