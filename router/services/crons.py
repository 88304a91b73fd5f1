"""Crons: create (stateless or on a thread), get, patch, delete, search, count, and what a tick
of a cron runs. The scheduler (router.services.scheduler) fires the ticks.

A cron's `payload` is its create body (assistant resolved to its id, `config.configurable.cron_id`
set), as the official server stores it; each tick creates a run from it. `next_run_date` is
recomputed from now whenever the schedule, timezone or `enabled` change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from contracts import ids
from router import access, errors
from router.models import Cron
from router.requests import CronCount, CronCreate, CronPatch, CronSearch, RunCreate, RunCreateStateful
from router.services import assistants as assistants_service
from router.services import webhooks as webhooks_service
from router.services.context import Services
from router.store import crons as store
from router.store import threads as threads_store

RUN_FIELDS = frozenset(RunCreateStateful.model_fields)
STATELESS_ONLY = frozenset({"multitask_strategy", "if_not_exists"})
PATCH_PAYLOAD_FIELDS = (
    "input",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "checkpoint_during",
)


def zone(timezone: str | None) -> ZoneInfo:
    """The cron's timezone (None is UTC); an unknown name is a 422 naming `timezone`."""
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise errors.UnprocessableError(f"timezone: unknown IANA timezone {timezone!r}") from exc


def check_schedule(schedule: str) -> None:
    """Cron syntax as croniter reads it (5 fields, or 6 with seconds last, as the official server)."""
    if not croniter.is_valid(schedule):
        raise errors.UnprocessableError(f"schedule: invalid cron expression {schedule!r}")


def next_run_after(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first tick strictly after `after`, in UTC; the schedule is read in `timezone`."""
    base = after.astimezone(zone(timezone))
    nxt: datetime = croniter(schedule, base).get_next(datetime)
    return nxt.astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _run_config(config: dict[str, Any] | None, cron_id: str) -> dict[str, Any]:
    config = dict(config or {})
    config["configurable"] = {**(config.get("configurable") or {}), "cron_id": cron_id}
    return config


async def _assistant_id(services: Services, value: str) -> str:
    try:
        assistant = await assistants_service.resolve(services, value)
    except errors.AssistantNotFoundError as exc:
        raise errors.NotFoundError(f"Assistant {value} not found") from exc
    return assistant["assistant_id"]


async def _authorized(
    services: Services, cron_id: str, action: str, value: dict[str, Any] | None = None
) -> None:
    """Fire custom auth's `crons.<action>` event for one cron (router.access); not found if the
    handler's filters exclude it. No-op when custom auth is off."""
    if access.active() is None:
        return
    _, filters = await access.authorize("crons", action, value or {"cron_id": cron_id})
    if filters is not None:
        cron = await store.get(services.pool, cron_id)
        if cron is None or not access.matches(cron["metadata"], filters):
            raise errors.NotFoundError(f"Cron with ID {cron_id} not found")


async def _authorize_create(
    services: Services, body: CronCreate, payload: dict[str, Any], *, assistant_id: str, thread_id: str | None
) -> dict[str, Any]:
    """Custom auth's events for a new cron: `crons.create`, then `assistants.read` (not for system
    assistants) and `threads.read` of its thread with their filters; the cron's metadata as the
    handler left it."""
    value, _ = await access.authorize(
        "crons",
        "create",
        {
            "payload": payload,
            "schedule": body.schedule,
            "thread_id": thread_id,
            "assistant_id": assistant_id,
            "metadata": dict(body.metadata or {}),
            "end_time": payload.get("end_time"),
        },
    )
    assistant = await assistants_service.resolve(services, assistant_id)
    if (assistant["metadata"] or {}).get("created_by") != "system":
        _, assistant_filters = await access.authorize("assistants", "read", {"assistant_id": assistant_id})
        if not access.matches(assistant["metadata"], assistant_filters):
            raise errors.NotFoundError(f"Assistant {assistant_id} not found")
    if thread_id is not None:
        _, thread_filters = await access.authorize("threads", "read", {"thread_id": thread_id})
        thread = await threads_store.get(services.pool, thread_id)
        if thread is None or not access.matches(thread["metadata"], thread_filters):
            raise errors.ThreadNotFoundError(f"Thread with ID {thread_id} not found")
    metadata: dict[str, Any] = value.get("metadata") or {}
    return metadata


async def create(services: Services, body: CronCreate, *, thread_id: str | None) -> Cron:
    """A cron for `thread_id` (None: stateless, each tick on a new thread)."""
    check_schedule(body.schedule)
    zone(body.timezone)
    if body.webhook is not None:
        webhooks_service.check_url(services, body.webhook)
    if thread_id is not None and body.on_run_completed is not None:
        raise errors.UnprocessableError("on_run_completed: only stateless crons take it")
    assistant_id = await _assistant_id(services, body.assistant_id)
    if thread_id is not None and await threads_store.get(services.pool, thread_id) is None:
        raise errors.ThreadNotFoundError(f"Thread with ID {thread_id} not found")
    cron_id = str(ids.uuid7())
    payload = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    payload["assistant_id"] = assistant_id
    payload["config"] = _run_config(payload.get("config"), cron_id)
    metadata = body.metadata or {}
    if access.active() is not None:
        metadata = await _authorize_create(
            services, body, payload, assistant_id=assistant_id, thread_id=thread_id
        )
        payload["metadata"] = metadata
    cron = await store.insert(
        services.pool,
        cron_id=cron_id,
        assistant_id=assistant_id,
        thread_id=thread_id,
        user_id="",
        schedule=body.schedule,
        timezone=body.timezone,
        end_time=_utc(body.end_time),
        payload=payload,
        next_run_date=next_run_after(body.schedule, body.timezone, datetime.now(UTC)),
        metadata=metadata,
        on_run_completed=(body.on_run_completed or "delete") if thread_id is None else None,
        enabled=body.enabled,
    )
    services.kick_scheduler()
    return cron


async def get(services: Services, cron_id: str) -> Cron:
    _, filters = await access.authorize("crons", "read", {"cron_id": cron_id})
    cron = await store.get(services.pool, cron_id)
    if cron is None or not access.matches(cron["metadata"], filters):
        raise errors.NotFoundError(f"Cron with ID {cron_id} not found")
    return cron


def _patched_payload(row: store.Record, body: CronPatch, given: set[str]) -> dict[str, Any]:
    payload = dict(row["payload"])
    dumped = body.model_dump(mode="json")
    for name in PATCH_PAYLOAD_FIELDS:
        if name in given:
            payload[name] = dumped[name]
    if "config" in given:
        payload["config"] = _run_config(payload.get("config"), str(row["cron_id"]))
    if body.metadata is not None:
        payload["metadata"] = {**(payload.get("metadata") or {}), **body.metadata}
    for name in ("schedule", "timezone", "on_run_completed", "enabled"):
        if name in given:
            payload[name] = dumped[name]
    if "end_time" in given:
        payload["end_time"] = dumped["end_time"]
    return {k: v for k, v in payload.items() if v is not None}


async def patch(services: Services, cron_id: str, body: CronPatch) -> Cron:
    """Change a cron; an empty body is a 400, as the official server."""
    given = set(body.model_fields_set)
    if not given:
        raise errors.InvalidRequestError("No fields to update")
    if body.schedule is not None:
        check_schedule(body.schedule)
    if "timezone" in given:
        zone(body.timezone)
    if body.webhook is not None:
        webhooks_service.check_url(services, body.webhook)
    await _authorized(
        services, cron_id, "update", {"cron_id": cron_id, **body.model_dump(mode="json", exclude_unset=True)}
    )
    async with services.pool.acquire() as conn, conn.transaction():
        row = await store.lock(conn, cron_id)
        if row is None:
            raise errors.NotFoundError(f"Cron with ID {cron_id} not found")
        if row["thread_id"] is not None and body.on_run_completed is not None:
            raise errors.UnprocessableError("on_run_completed: only stateless crons take it")
        schedule = body.schedule or row["schedule"]
        timezone = body.timezone if "timezone" in given else row["timezone"]
        enabled = body.enabled if body.enabled is not None else row["enabled"]
        next_run_date = row["next_run_date"]
        if given & {"schedule", "timezone", "enabled"}:
            next_run_date = next_run_after(schedule, timezone, datetime.now(UTC))
        cron = await store.update(
            conn,
            cron_id,
            schedule=schedule,
            timezone=timezone,
            end_time=_utc(body.end_time) if "end_time" in given else row["end_time"],
            payload=_patched_payload(row, body, given),
            next_run_date=next_run_date,
            metadata={**row["metadata"], **(body.metadata or {})},
            on_run_completed=body.on_run_completed or row["on_run_completed"],
            enabled=enabled,
        )
    services.kick_scheduler()
    return cron


async def delete(services: Services, cron_id: str) -> None:
    await _authorized(services, cron_id, "delete")
    if not await store.delete(services.pool, cron_id):
        raise errors.NotFoundError(f"Cron with ID {cron_id} not found")


async def _filters(
    services: Services, assistant_id: str | None, thread_id: str | None
) -> tuple[str | None, str | None]:
    if assistant_id is not None:
        assistant_id = (
            assistants_service.system_assistant_id(assistant_id)
            if assistant_id in services.graph_ids
            else assistant_id
        )
    for name, value in (("assistant_id", assistant_id), ("thread_id", thread_id)):
        if value is not None and not ids.is_uuid(value):
            raise errors.UnprocessableError(f"{name}: must be a UUID")
    return assistant_id, thread_id


async def search(services: Services, body: CronSearch) -> tuple[list[dict[str, Any]], int | None]:
    """One page of crons and the offset of the next page (None on the last page)."""
    assistant_id, thread_id = await _filters(services, body.assistant_id, body.thread_id)
    _, filters = await access.authorize(
        "crons",
        "search",
        {
            "assistant_id": assistant_id,
            "thread_id": thread_id,
            "limit": body.limit,
            "offset": body.offset,
            "metadata": body.metadata or {},
        },
    )
    rows = await store.search(
        services.pool,
        assistant_id=assistant_id,
        thread_id=thread_id,
        enabled=body.enabled,
        metadata=body.metadata or None,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        limit=body.limit + 1,
        offset=body.offset,
        auth=filters,
    )
    next_offset = body.offset + body.limit if len(rows) > body.limit else None
    page: list[dict[str, Any]] = [dict(c) for c in rows[: body.limit]]
    if body.select:
        page = [{k: v for k, v in c.items() if k in body.select} for c in page]
    return page, next_offset


async def count(services: Services, body: CronCount) -> int:
    assistant_id, thread_id = await _filters(services, body.assistant_id, body.thread_id)
    _, filters = await access.authorize(
        "crons",
        "search",
        {"assistant_id": assistant_id, "thread_id": thread_id, "metadata": body.metadata or {}},
    )
    return await store.count(
        services.pool,
        assistant_id=assistant_id,
        thread_id=thread_id,
        metadata=body.metadata or None,
        auth=filters,
    )


def run_body(row: store.Record) -> RunCreate:
    """The run one tick of the cron in `row` creates, from its payload."""
    fields = {k: v for k, v in row["payload"].items() if k in RUN_FIELDS}
    if row["thread_id"] is None:
        fields = {k: v for k, v in fields.items() if k not in STATELESS_ONLY}
        fields["on_completion"] = row["on_run_completed"] or "delete"
        return RunCreate.model_validate(fields)
    return RunCreateStateful.model_validate(fields)
